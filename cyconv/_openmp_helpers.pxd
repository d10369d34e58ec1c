# OpenMP runtime queries that also compile without OpenMP (then: one thread).
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define CYCONV_OPENMP 1
    #else
    #define CYCONV_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    static int omp_get_thread_num(void) { return 0; }
    #endif
    """
    const int CYCONV_OPENMP
    int omp_get_max_threads() nogil
    int omp_get_thread_num() nogil
