"""The benchmark runner (``python -m cyconv bench``): a tiny run end to end."""
import json

import pytest

from cyconv import bench


def test_bench_rounds_keep_each_functions_best(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = bench.main(["--cases", "odd", "--ops", "fwd,bwd_data", "--repeat", "1",
                     "--budget", "0", "--anchors", "none", "--rounds", "2",
                     "--threads", "1", "--json", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["rounds"] == 2 and data["threads"] == 1
    assert [(r["case"], r["op"]) for r in data["records"]] == [
        ("odd_17to33_5x5", "fwd"), ("odd_17to33_5x5", "bwd_data")]
    for r in data["records"]:
        assert r["time_s"] > 0 and r["gflops"] > 0 and r["anchors"] == {}
    printed = capsys.readouterr().out
    assert "odd_17to33_5x5" in printed and "bwd_data" in printed


def _stub_bench(monkeypatch, jobs, timings, warm_seen=None, peaks=None):
    """bench.main over the given jobs, with `timings(fns)` as the timer,
    the FMA probe answering from `peaks` (100 GFLOP/s each time without
    it) and no table printed; returns the list its records are collected
    into (and appends the timer's `warm` argument to warm_seen)."""
    peaks = iter(peaks) if peaks is not None else None
    monkeypatch.setattr(bench, "_fma_peak", lambda nt: next(peaks) if peaks else 100.0)
    def timer(fns, r, b, warm=True):
        if warm_seen is not None:
            warm_seen.append(warm)
        return timings(fns)
    monkeypatch.setattr(bench, "_median_interleaved", timer)
    monkeypatch.setattr(bench, "layer_jobs", lambda *a: jobs)
    monkeypatch.setattr(bench, "signal_jobs", lambda *a: [])
    monkeypatch.setattr(bench, "cnn_step_jobs", lambda *a: [])
    monkeypatch.setattr(bench, "_anchors", lambda wanted: {})
    records = []
    monkeypatch.setattr(bench, "_print_table", lambda recs, mem: records.extend(recs))
    monkeypatch.setattr(bench, "_summary", lambda recs: None)
    return records


def test_bench_best_round_is_the_minimum(monkeypatch):
    """With rounds, every function's reported time is its fastest round."""
    rounds = iter([[3.0, 5.0], [2.0, 6.0], [4.0, 1.0]])
    jobs = [("case", "fwd", 1e9, lambda: None, {"anchor": lambda: None}, 0)]
    records = _stub_bench(monkeypatch, jobs, lambda fns: next(rounds))
    assert bench.main(["--rounds", "3", "--threads", "1"]) == 0
    (rec,) = records
    assert rec["time_s"] == 2.0 and rec["anchors"]["anchor"]["time_s"] == 1.0
    assert rec["anchors"]["anchor"]["ratio"] == 0.5


def test_bench_peak_is_the_best_probe(monkeypatch):
    """The FMA peak is probed before the timing and after every round and
    %peak uses the best probe (one that fell on a slow spell would inflate
    every %peak)."""
    jobs = [("case", "fwd", 50e9, lambda: None, {}, 0)]
    records = _stub_bench(monkeypatch, jobs, lambda fns: [1.0], peaks=[80.0, 125.0, 100.0])
    assert bench.main(["--rounds", "2", "--threads", "1"]) == 0
    (rec,) = records
    assert rec["peak_pct"] == pytest.approx(40.0)


def _plot_figure(records, tmp_path, inspect):
    """Run --plot's drawing on records, calling inspect(figure) just before
    the figure is saved; returns the PNG's path."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    real_savefig = plt.Figure.savefig

    def savefig(fig, path, **kw):
        inspect(fig)
        return real_savefig(fig, path, **kw)

    plt.Figure.savefig = savefig
    try:
        bench._plot(records, 100.0, str(tmp_path / "b.png"))
    finally:
        plt.Figure.savefig = real_savefig
    return tmp_path / "b.png"


def test_bench_plot_draws_every_case(tmp_path):
    """--plot: one bar group per case (cyconv and the anchors timed there)."""
    records = [
        {"case": "a", "op": "fwd", "gflops": 10.0,
         "anchors": {"torch": {"gflops": 5.0}, "scipy": {"gflops": 1.0}}},
        {"case": "b", "op": "bwd_data", "gflops": 20.0, "anchors": {"torch": {"gflops": 30.0}}},
        {"case": "c", "op": "fwd", "gflops": 7.0, "anchors": {}},
    ]
    drawn = []
    png = _plot_figure(records, tmp_path, lambda fig: drawn.append(
        sorted(round(p.get_height(), 6) for p in fig.axes[0].patches)))
    assert drawn == [[1.0, 5.0, 7.0, 10.0, 20.0, 30.0]]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_plot_legend_covers_no_bar(tmp_path):
    """--plot: with every bar near the peak line (no free corner inside the
    axes) the legend still covers none of them."""
    records = [{"case": f"c{i}", "op": "fwd", "gflops": 95.0 - i % 3,
                "anchors": {"torch": {"gflops": 90.0 + i % 4}, "scipy": {"gflops": 93.0}}}
               for i in range(12)]
    bars, covered = [], []

    def inspect(fig):
        fig.canvas.draw()
        box = fig.axes[0].get_legend().get_window_extent()
        bars.extend(fig.axes[0].patches)
        covered.extend(p for p in bars if box.overlaps(p.get_window_extent()))

    _plot_figure(records, tmp_path, inspect)
    assert len(bars) == 36 and covered == []


def test_bench_peak_is_the_cases_own_dtype(monkeypatch):
    """%peak uses the float64 peak (half the float32 one) for a float64 case
    and the float32 peak for the float32 image, whatever --dtype says."""
    jobs = [("layer", "fwd", 1e9, lambda: None, {}, 0),
            ("signal_1d_1e6x31_float64", "fwd", 1e9, lambda: None, {}, 0),
            ("image_2d_2048sq_5x5_float32", "fwd", 1e9, lambda: None, {}, 0)]
    records = _stub_bench(monkeypatch, jobs, lambda fns: [1.0] * len(fns))
    for dtype in ("float32", "float64"):
        records.clear()
        assert bench.main(["--threads", "1", "--dtype", dtype]) == 0
        pct = {r["case"]: r["peak_pct"] for r in records}
        assert [r["dtype"] for r in records] == [dtype, "float64", "float32"]
        assert abs(pct["signal_1d_1e6x31_float64"] - 2 * pct["image_2d_2048sq_5x5_float32"]) < 1e-9
        assert abs(pct["layer"] - pct["image_2d_2048sq_5x5_float32"]
                   * (1 if dtype == "float32" else 2)) < 1e-9


def test_bench_timed_calls_follow_their_own_warm_call(monkeypatch):
    """warm: every timed call comes right after an untimed call of the same
    function; cold: plain round-robin.  The clock's readings ("t") are
    logged with the calls, so a warm-up call placed after the timed one, or
    a reading that brackets the wrong call, fails."""
    calls = []
    clock = iter(range(10**6))
    fns = [lambda name=name: calls.append(name) for name in "abc"]

    def perf_counter():
        calls.append("t")
        return float(next(clock))

    monkeypatch.setattr(bench.time, "perf_counter", perf_counter)
    for warm in (True, False):
        calls.clear()
        bench._median_interleaved(fns, 3, 0.0, warm)
        per_call = (lambda n: [n, "t", n, "t"]) if warm else (lambda n: ["t", n, "t"])
        # one untimed call of each, the budget's reading, 3 rounds, the
        # loop's last budget check
        want = list("abc") + ["t"] + [c for _ in range(3) for n in "abc"
                                      for c in per_call(n)] + ["t"]
        assert calls == want


def test_bench_cold_flag_reaches_the_timer(monkeypatch):
    """The bench times warm by default and plain round-robin with --cold."""
    jobs = [("case", "fwd", 1e9, lambda: None, {"anchor": lambda: None}, 0)]
    for argv, want in (([], True), (["--cold"], False)):
        seen = []
        _stub_bench(monkeypatch, jobs, lambda fns: [1.0] * len(fns), seen)
        assert bench.main(argv + ["--threads", "1"]) == 0
        assert seen and all(w is want for w in seen)


def test_bench_scaling_times_cyconv_at_one_thread(monkeypatch):
    """--scaling: each cyconv call that takes num_threads is also timed with
    num_threads=1 in the same interleaved set (its column: t(1) / t(nt));
    a job whose function takes no thread count (the training step) gets no
    such column, and no job does at --threads 1."""
    calls = []
    jobs = [("layer", "fwd", 1e9, lambda num_threads=None: calls.append(num_threads),
             {"torch": lambda: None}, 0),
            ("step", "train_step", 1e9, lambda: None, {}, 0)]
    seen = []

    def timings(fns):
        seen.append(len(fns))
        for f in fns:
            f()
        return [1.0] + [3.0] * (len(fns) - 1)
    records = _stub_bench(monkeypatch, jobs, timings)
    assert bench.main(["--threads", "2", "--scaling"]) == 0
    layer, step = records
    assert layer["anchors"][bench.ONE_THREAD]["ratio"] == 3.0
    assert bench.ONE_THREAD not in step["anchors"]
    assert calls == [None, 1] and seen == [3, 1]
    records.clear()
    calls.clear()
    assert bench.main(["--threads", "1", "--scaling"]) == 0
    assert bench.ONE_THREAD not in records[0]["anchors"] and calls == [None]


def test_bench_scaling_end_to_end(tmp_path):
    """The suite's own job functions take num_threads (a tiny real run)."""
    out = tmp_path / "bench.json"
    assert bench.main(["--cases", "odd,convT1d", "--ops", "fwd,bwd_weight", "--repeat", "1",
                       "--budget", "0", "--anchors", "none", "--threads", "2",
                       "--scaling", "--json", str(out)]) == 0
    recs = json.loads(out.read_text())["records"]
    assert {(r["case"], r["op"]) for r in recs} == {
        ("odd_17to33_5x5", "fwd"), ("odd_17to33_5x5", "bwd_weight"),
        ("convT1d_64to32_k16_s8", "fwd")}
    for r in recs:
        assert r["anchors"][bench.ONE_THREAD]["time_s"] > 0


def test_bench_allocator_setting_is_recorded(tmp_path):
    """--allocator steady keeps freed blocks in the heap on glibc (mallopt);
    the run says which policy it timed under, and default leaves it alone."""
    import platform
    got = {}
    for policy in ("default", "steady"):
        out = tmp_path / f"{policy}.json"
        assert bench.main(["--cases", "odd", "--ops", "fwd", "--repeat", "1", "--budget", "0",
                           "--anchors", "none", "--threads", "1", "--allocator", policy,
                           "--json", str(out)]) == 0
        got[policy] = json.loads(out.read_text())["allocator"]
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert got == {"default": "default", "steady": "steady" if glibc else "default"}
