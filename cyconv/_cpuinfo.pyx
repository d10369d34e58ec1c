"""CPU features, for choosing the SIMD build of the kernels at import.

Built without any -march flag so that it runs on every CPU of the platform:
``cyconv._dispatch`` imports it first, and only then a kernel variant the
CPU can execute.  On x86 it reads CPUID and, with XGETBV, whether the
operating system saves the AVX / AVX-512 register state (a CPU with AVX-512
under an OS that does not enable it cannot run AVX-512 code).
"""
import platform

cdef extern from *:
    """
    #if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
    #define CY_X86 1
    #if defined(_MSC_VER) && !defined(__clang__)
    #include <intrin.h>
    static void cy_cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
        int t[4];
        __cpuidex(t, (int)leaf, (int)sub);
        r[0] = (unsigned)t[0]; r[1] = (unsigned)t[1]; r[2] = (unsigned)t[2]; r[3] = (unsigned)t[3];
    }
    static unsigned long long cy_xgetbv0(void) { return _xgetbv(0); }
    #else
    #include <cpuid.h>
    static void cy_cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
        __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
    }
    static unsigned long long cy_xgetbv0(void) {
        unsigned lo, hi;
        __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        return ((unsigned long long)hi << 32) | lo;
    }
    #endif
    #else
    #define CY_X86 0
    static void cy_cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
        (void)leaf; (void)sub; r[0] = r[1] = r[2] = r[3] = 0;
    }
    static unsigned long long cy_xgetbv0(void) { return 0; }
    #endif
    """
    const int CY_X86
    void cy_cpuid(unsigned leaf, unsigned sub, unsigned* r) nogil
    unsigned long long cy_xgetbv0() nogil


# (name, CPUID leaf, sub-leaf, register index eax=0 .. edx=3, bit)
_X86_BITS = [
    ("sse2", 1, 0, 3, 26), ("sse3", 1, 0, 2, 0), ("ssse3", 1, 0, 2, 9),
    ("sse4_1", 1, 0, 2, 19), ("sse4_2", 1, 0, 2, 20), ("popcnt", 1, 0, 2, 23),
    ("cx16", 1, 0, 2, 13), ("fma", 1, 0, 2, 12), ("movbe", 1, 0, 2, 22),
    ("osxsave", 1, 0, 2, 27), ("avx", 1, 0, 2, 28), ("f16c", 1, 0, 2, 29),
    ("bmi1", 7, 0, 1, 3), ("avx2", 7, 0, 1, 5), ("bmi2", 7, 0, 1, 8),
    ("avx512f", 7, 0, 1, 16), ("avx512dq", 7, 0, 1, 17), ("avx512cd", 7, 0, 1, 28),
    ("avx512bw", 7, 0, 1, 30), ("avx512vl", 7, 0, 1, 31),
    ("lzcnt", 0x80000001, 0, 2, 5),
]

# The x86-64 micro-architecture levels the kernel variants are compiled for
# (the psABI's definitions; -march=x86-64-v3 / -v4).
X86_64_V2 = ("sse3", "ssse3", "sse4_1", "sse4_2", "popcnt", "cx16")
X86_64_V3 = X86_64_V2 + ("avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "lzcnt",
                         "movbe", "os_avx")
X86_64_V4 = X86_64_V3 + ("avx512f", "avx512bw", "avx512cd", "avx512dq",
                         "avx512vl", "os_avx512")


def _cpuid(unsigned leaf, unsigned sub=0):
    cdef unsigned r[4]
    cy_cpuid(leaf, sub, r)
    return (r[0], r[1], r[2], r[3])


def x86_features():
    """{feature: bool} from CPUID and XGETBV; empty on other architectures."""
    if not CY_X86:
        return {}
    max_leaf = _cpuid(0)[0]
    max_ext = _cpuid(0x80000000)[0]
    regs = {}
    feats = {}
    for name, leaf, sub, reg, bit in _X86_BITS:
        ok_leaf = leaf <= max_ext if leaf >= 0x80000000 else leaf <= max_leaf
        if not ok_leaf:
            feats[name] = False
            continue
        if (leaf, sub) not in regs:
            regs[leaf, sub] = _cpuid(leaf, sub)
        feats[name] = bool((regs[leaf, sub][reg] >> bit) & 1)
    xcr0 = cy_xgetbv0() if feats["osxsave"] else 0
    # XCR0 bits: 1 SSE, 2 AVX (ymm upper halves), 5-7 AVX-512 (opmask, zmm)
    feats["os_avx"] = (xcr0 & 0x6) == 0x6
    feats["os_avx512"] = (xcr0 & 0xE6) == 0xE6
    return feats


def features():
    """The CPU as the dispatcher sees it: {"arch": ..., "levels": [...],
    "flags": {feature: bool}}.  Levels: "x86-64", "x86-64-v2/v3/v4" on x86-64,
    "neon" on arm64 (Advanced SIMD is part of every AArch64 CPU)."""
    machine = platform.machine().lower()
    flags = x86_features()
    levels = []
    if CY_X86:
        arch = "x86_64"
        # each level includes the one before: stop at the first one missing
        for level, need in (("x86-64", ("sse2",)), ("x86-64-v2", X86_64_V2),
                            ("x86-64-v3", X86_64_V3), ("x86-64-v4", X86_64_V4)):
            if not all(flags.get(f) for f in need):
                break
            levels.append(level)
    elif machine in ("arm64", "aarch64"):
        arch = "aarch64"
        levels.append("neon")
    else:
        arch = machine
    return {"arch": arch, "levels": levels, "flags": flags}
