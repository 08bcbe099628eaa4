"""torch and cupy inputs. On the GPU they are read in place on the caller's stream, results must
equal the CPU backend's at docs/METRICS.md tolerances. Skipped, with the reason, where torch / cupy
or a CUDA device is missing; LSC_REQUIRE_GPU=1 turns the GPU skips into failures."""
import os

import numpy as np
import pytest

import lsc

try:
    import torch
except ImportError:
    torch = None
try:
    import cupy
except ImportError:
    cupy = None


def _gpu_reason():
    if torch is None and cupy is None:
        return "neither torch nor cupy is installed"
    if torch is not None and torch.cuda.is_available():
        return None
    if cupy is not None:
        try:
            if cupy.cuda.runtime.getDeviceCount() > 0:
                return None
        except Exception as e:  # no driver
            return f"cupy sees no CUDA device ({e})"
    return "no CUDA device is available"


def need_gpu():
    why = _gpu_reason()
    if why is not None:
        if os.environ.get("LSC_REQUIRE_GPU") == "1":
            pytest.fail(f"LSC_REQUIRE_GPU=1 but {why}")
        pytest.skip(why)


def need_torch_gpu():
    need_gpu()
    if torch is None or not torch.cuda.is_available():
        pytest.skip("torch with CUDA is not installed")


def close(a, b, rel):
    assert a == pytest.approx(b, rel=rel, abs=1e-12)


# docs/METRICS.md: GPU against the CPU backend, twice the tolerances against the float64 reference
# (continuous figures 2e-4 relative, exact distances 1e-6 relative)
REL = 4e-4
REL_EXACT = 2e-6


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    real = rng.standard_normal((2000, 64), dtype=np.float32)
    fake = (rng.standard_normal((1500, 64)) * 0.7 + 0.1).astype(np.float32)
    fake[10] = fake[20]
    return real, fake


# ---- torch on the CPU (no GPU needed) --------------------------------------------------------------

@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_torch_cpu_tensors_read_in_place(data):
    real, fake = data
    t = torch.from_numpy(real)
    assert lsc.spectrum(t) == lsc.spectrum(real)
    bf = torch.from_numpy(real).to(torch.bfloat16)
    assert lsc.spectrum(bf) == lsc.spectrum(bf.float().numpy())
    assert lsc.prdc(torch.from_numpy(real), torch.from_numpy(fake)) == lsc.prdc(real, fake)
    with pytest.raises(ValueError, match="not contiguous"):
        lsc.spectrum(t.t())
    with pytest.raises(TypeError, match="int64"):
        lsc.spectrum(torch.zeros((4, 4), dtype=torch.int64))


# ---- torch on the GPU --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_torch_cuda_every_operation_equals_cpu(data, dtype):
    need_torch_gpu()
    real, fake = data
    td = getattr(torch, dtype)
    r = torch.from_numpy(real).to("cuda").to(td)
    f = torch.from_numpy(fake).to("cuda").to(td)
    r_host = r.float().cpu().numpy()
    f_host = f.float().cpu().numpy()
    s_gpu, s_cpu = lsc.spectrum(f), lsc.spectrum(f_host, backend="cpu")
    for key in ("effective_rank", "rankme", "participation_ratio", "stable_rank",
                "total_variance", "vendi_cosine"):
        close(getattr(s_gpu, key), getattr(s_cpu, key), REL)
    assert s_gpu.active_units == s_cpu.active_units and s_gpu.dims_90 == s_cpu.dims_90
    d_gpu, i_gpu = lsc.knn(f, k=5, exclude_self=True)
    assert d_gpu.is_cuda and i_gpu.is_cuda and i_gpu.dtype == torch.int64
    d_cpu, i_cpu = lsc.knn(f_host, k=5, exclude_self=True, backend="cpu")
    np.testing.assert_allclose(d_gpu.cpu().numpy(), d_cpu, rtol=REL_EXACT)
    np.testing.assert_array_equal(i_gpu.cpu().numpy(), i_cpu)
    p_gpu, p_cpu = lsc.prdc(r, f, k=5), lsc.prdc(r_host, f_host, k=5, backend="cpu")
    assert p_gpu == p_cpu
    ps_gpu, ps_cpu = lsc.pair_stats(f), lsc.pair_stats(f_host, backend="cpu")
    close(ps_gpu.mean, ps_cpu.mean, REL)
    close(ps_gpu.std, ps_cpu.std, REL)
    assert ps_gpu.min == ps_cpu.min and ps_gpu.near_duplicates == ps_cpu.near_duplicates
    # docs/METRICS.md lets bin counts be bulk figures, but both backends place every pair in its
    # exact value's bin (a band that crosses an edge is recomputed) from bit-identical bounds: equal
    np.testing.assert_array_equal(ps_gpu.histogram, ps_cpu.histogram)
    blk = lsc.distances(f[:100], r[:50])
    assert blk.is_cuda
    # twice docs/METRICS.md's block tolerance: 1e-5 d + 1e-6 (|x - c| + |y - c|), c the base's mean
    want = lsc.distances(f_host[:100], r_host[:50], backend="cpu").astype(np.float64)
    c = r_host[:50].astype(np.float64).mean(axis=0)
    nx = np.linalg.norm(f_host[:100].astype(np.float64) - c, axis=1)[:, None]
    ny = np.linalg.norm(r_host[:50].astype(np.float64) - c, axis=1)[None, :]
    err = np.abs(blk.cpu().numpy().astype(np.float64) - want)
    assert np.all(err <= 2e-5 * want + 2e-6 * (nx + ny)), err.max()


def test_torch_cuda_uses_the_current_stream_and_strided_rows(data):
    need_torch_gpu()
    real, _ = data
    wide = torch.from_numpy(real).to("cuda")
    view = wide[::2, 8:40]                      # strided rows, contiguous columns
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        y = view * 2.0                          # produced on s: lsc must run after it on s
        got = lsc.spectrum(y)
    want = lsc.spectrum((view * 2.0).cpu().numpy(), backend="cpu")
    close(got.effective_rank, want.effective_rank, REL)
    close(lsc.spectrum(view).total_variance,
          lsc.spectrum(view.cpu().numpy(), backend="cpu").total_variance, REL)
    with pytest.raises(ValueError, match="not contiguous"):
        lsc.spectrum(wide.t())


def test_torch_cuda_bad_values_and_mixed_places(data):
    need_torch_gpu()
    real, fake = data
    x = torch.from_numpy(real).to("cuda")
    x[17, 3] = float("nan")
    with pytest.raises(lsc.InvalidData, match="row 17 col 3"):
        lsc.spectrum(x)
    with pytest.raises(lsc.InvalidArgument, match="mix host and device"):
        lsc.knn(torch.from_numpy(fake).to("cuda"), real, k=3)
    with pytest.raises(lsc.InvalidArgument, match="cpu"):
        lsc.spectrum(torch.from_numpy(fake).to("cuda"), backend="cpu")


def test_monitor_async_on_torch_cuda_equals_sync(data):
    need_torch_gpu()
    real, fake = data
    mon = lsc.Monitor(real, k=5, every=2)
    z = torch.from_numpy(fake).to("cuda")
    for step in range(6):
        mon.step(step, z * (1.0 - 0.1 * step))
    hist = mon.flush()
    assert [r.step for r in hist] == [0, 2, 4]
    for r in hist:
        want_p = lsc.prdc(real, (z * (1.0 - 0.1 * r.step)).cpu().numpy(), k=5, backend="cpu")
        want_s = lsc.spectrum((z * (1.0 - 0.1 * r.step)).cpu().numpy(), backend="cpu")
        assert r.prdc == want_p
        close(r.spectrum.effective_rank, want_s.effective_rank, REL)
    if hist[0].asynchronous:
        assert all(r.call_ms < 50 for r in hist[1:]), [r.call_ms for r in hist]


def test_reference_to_device_equals_the_host_reference(data):
    need_torch_gpu()
    real, fake = data
    host = lsc.Reference(real, k=5)
    dev = host.to_device(0)
    assert dev.device == 0 and "device=0" in repr(dev)
    np.testing.assert_array_equal(dev.radii, host.radii)
    z = torch.from_numpy(fake).to("cuda")
    want = lsc.prdc(host, fake, backend="cpu")
    assert lsc.prdc(dev, z) == want          # device rows against the device copy
    assert lsc.prdc(dev, fake) == want       # host rows: run on the reference's device
    with pytest.raises(lsc.InvalidArgument, match="lsc_reference_to_device"):
        _prdc_on_cpu(dev, fake)
    del host                                 # the device reference keeps its own host part
    assert lsc.prdc(dev, z) == want


def _prdc_on_cpu(ref, fake):
    """lsc_prdc of a host array on a CPU context, whatever the reference (the refusal path)."""
    import ctypes as C
    from lsc import _native as N
    from lsc._arrays import view
    from lsc._core import context
    ctx = context("cpu")
    v = view(fake, "fake")
    r = N.new(N.PrdcResult)
    ctx.check(N.lib.lsc_prdc(ctx.handle, ref._h, C.byref(v.matrix), C.byref(r)))


def _same_verdicts(got, want):
    """Levels equal, figures at the GPU-against-CPU tolerances (PRDC is exact on both)."""
    assert list(got.verdicts) == list(want.verdicts)
    for name, v in got.verdicts.items():
        w = want.verdicts[name]
        assert v.level == w.level, f"{name}: {v.why} / cpu: {w.why}"
        close(v.matched, w.matched, REL)
        close(v.baseline.value, w.baseline.value, REL)
    assert got.verdict == want.verdict and got.not_assessed == want.not_assessed


def test_assess_of_torch_cuda_rows_equals_cpu(data):
    # lsc_assess reads host rows: device rows are copied to the host, the work runs on their GPU
    need_torch_gpu()
    real, fake = data
    f = torch.from_numpy(fake[:400]).to("cuda")
    want = lsc.assess(real, fake[:400], backend="cpu")
    assert lsc.assess(real, f, backend="cpu") == want      # host copy, CPU backend: identical
    _same_verdicts(lsc.assess(real, f), want)
    _same_verdicts(lsc.assess(torch.from_numpy(real).to("cuda"), f), want)
    bf = f.to(torch.bfloat16)
    _same_verdicts(lsc.assess(real, bf), lsc.assess(real, bf.float().cpu().numpy(),
                                                       backend="cpu"))


def test_monitor_async_verdicts_are_of_the_batch_at_the_call(data):
    # the monitor copies the batch on its stream at the call: changing it afterwards (in place,
    # on the same stream) does not change the verdicts collected later
    need_torch_gpu()
    real, fake = data
    mon = lsc.Monitor(real, k=5, every=1, assess=True)
    z = torch.from_numpy(fake[:400]).to("cuda")
    mon.step(0, z)
    z.mul_(0.0)
    hist = mon.flush()
    assert len(hist) == 1 and hist[0].verdicts is not None
    want = lsc.assess(real, fake[:400], backend="cpu")
    _same_verdicts(lsc.Assessment(hist[0].verdict, hist[0].not_assessed, hist[0].verdicts), want)


# ---- cupy ----------------------------------------------------------------------------------------------

def test_cupy_arrays_equal_cpu(data):
    need_gpu()
    if cupy is None:
        pytest.skip("cupy is not installed")
    real, fake = data
    r, f = cupy.asarray(real), cupy.asarray(fake)
    assert lsc.prdc(r, f) == lsc.prdc(real, fake, backend="cpu")
    d, i = lsc.knn(f, r, k=4)
    assert isinstance(i, cupy.ndarray)
    np.testing.assert_array_equal(cupy.asnumpy(i), lsc.knn(fake, real, k=4, backend="cpu")[1])
    close(lsc.spectrum(f.astype(cupy.float16)).effective_rank,
          lsc.spectrum(fake.astype(np.float16), backend="cpu").effective_rank, REL)
    _same_verdicts(lsc.assess(r, f[:400]), lsc.assess(real, fake[:400], backend="cpu"))
    assert lsc.assess(real, f[:400], backend="cpu") == lsc.assess(real, fake[:400], backend="cpu")
