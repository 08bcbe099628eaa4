"""ctypes declarations of include/lsc.h and the loading of liblsc.

Every struct here mirrors the header field for field, and names the C struct it mirrors in
`_c_struct_`. python/tests/test_abi.py compares each with the C compiler's layout (sizeof and
every field's offsetof and sizeof, from tests/abi/layouts.c), and the tests compare the binding's
figures with the CLI's on the same data.

Option, result and info structs start with `size`, which the caller sets to the struct's sizeof
before every call (lsc.h: the library writes only the bytes that size covers): make them with
new(), or set_size() on a struct placed in other memory (the pinned buffers of the async path).
"""
from __future__ import annotations

import ctypes as C
import glob
import os

c_i64 = C.c_int64
c_dbl = C.c_double
c_int = C.c_int
c_vp = C.c_void_p

# enums (values pinned in lsc.h)
BACKENDS = {"auto": 0, "cpu": 1, "cuda": 2}
DTYPES = {"float32": 0, "float16": 1, "bfloat16": 2, "float64": 3}
MEMORY_HOST, MEMORY_DEVICE = 0, 1
METRICS = {"euclidean": 0, "sqeuclidean": 1, "cosine": 2}
METRIC_NAMES = {v: k for k, v in METRICS.items()}
COMPARISONS = {"strict": 0, "inclusive": 1}
COMPARISON_NAMES = {v: k for k, v in COMPARISONS.items()}
# lsc_level; the names are lsc_level_name's. lsc_check values are 0, 1, ... in the order of
# lsc_check_name (LSC_CHECK_COUNT of this header; a newer library may append more)
LEVELS = {"ok": 0, "borderline": 1, "collapse": 2, "not_assessed": 3}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}
CHECK_COUNT = 6

DEVICE_ALLOC_FN = C.CFUNCTYPE(c_vp, C.c_size_t, c_vp, c_vp)
DEVICE_FREE_FN = C.CFUNCTYPE(None, c_vp, C.c_size_t, c_vp, c_vp)
PROGRESS_FN = C.CFUNCTYPE(c_int, c_dbl, c_vp)
# lsc.h section 12: the transport's callbacks (why: a char buffer of why_len bytes)
ALL_REDUCE_FN = C.CFUNCTYPE(c_int, c_vp, c_i64, c_int, c_int, c_int, c_vp, c_vp, C.c_size_t)
ALL_GATHER_FN = C.CFUNCTYPE(c_int, c_vp, C.c_size_t, c_vp, C.POINTER(C.c_size_t), c_int, c_vp,
                            c_vp, C.c_size_t)
BROADCAST_FN = C.CFUNCTYPE(c_int, c_vp, C.c_size_t, c_i64, c_int, c_vp, c_vp, C.c_size_t)
RING_FN = C.CFUNCTYPE(c_int, c_vp, C.c_size_t, c_vp, C.c_size_t, c_int, c_vp, c_vp, C.c_size_t)
SEND_RECV_FN = C.CFUNCTYPE(c_int, c_vp, C.c_size_t, c_i64, c_vp, C.c_size_t, c_i64, c_int, c_vp,
                           c_vp, C.c_size_t)
ELEM_F64, ELEM_I64 = 0, 1
REDUCE_SUM, REDUCE_MIN, REDUCE_MAX = 0, 1, 2


class CtxParams(C.Structure):
    _c_struct_ = "lsc_ctx_params"
    _fields_ = [("size", C.c_size_t), ("backend", c_int), ("device", c_int), ("stream", c_vp),
                ("threads", c_int), ("workspace_limit", C.c_size_t), ("precision", c_int),
                ("device_alloc", DEVICE_ALLOC_FN), ("device_free", DEVICE_FREE_FN),
                ("allocator_user", c_vp)]


class Matrix(C.Structure):
    _c_struct_ = "lsc_matrix"
    _fields_ = [("data", c_vp), ("dtype", c_int), ("rows", c_i64), ("cols", c_i64), ("ld", c_i64),
                ("memory", c_int)]


class SpectrumOpts(C.Structure):
    _c_struct_ = "lsc_spectrum_opts"
    _fields_ = [("size", C.c_size_t), ("active_threshold", c_dbl)]


class SpectrumResult(C.Structure):
    _c_struct_ = "lsc_spectrum_result"
    _fields_ = [("size", C.c_size_t), ("rows", c_i64), ("cols", c_i64), ("rank_limit", c_i64),
                ("numerical_rank", c_i64), ("effective_rank", c_dbl), ("rankme", c_dbl),
                ("participation_ratio", c_dbl), ("stable_rank", c_dbl), ("dims_90", c_i64),
                ("dims_99", c_i64), ("active_units", c_i64), ("active_threshold", c_dbl),
                ("total_variance", c_dbl), ("largest_singular_value", c_dbl),
                ("vendi_cosine", c_dbl), ("vendi_status", c_int), ("vendi_zero_row", c_i64),
                ("all_rows_identical", c_int), ("vendi_cosine_q0", c_dbl),
                ("vendi_cosine_q2", c_dbl), ("vendi_cosine_qinf", c_dbl), ("alpha_req", c_dbl),
                ("alpha_req_r2", c_dbl), ("alpha_req_ranks", c_i64)]


class Pair(C.Structure):
    _c_struct_ = "lsc_pair"
    _fields_ = [("i", c_i64), ("j", c_i64), ("d", c_dbl)]


class PairOpts(C.Structure):
    _c_struct_ = "lsc_pair_opts"
    _fields_ = [("size", C.c_size_t), ("metric", c_int), ("bins", c_i64), ("dup_eps", c_dbl),
                ("dup_report", c_i64), ("subset_rows", c_i64), ("seed", C.c_uint64),
                ("subset_offset", c_i64), ("uniformity", c_i64)]


class PairResult(C.Structure):
    _c_struct_ = "lsc_pair_result"
    _fields_ = [("size", C.c_size_t), ("rows_used", c_i64), ("pairs", c_i64), ("mean", c_dbl),
                ("std", c_dbl), ("min", c_dbl), ("max", c_dbl), ("nn_mean", c_dbl),
                ("nn_median", c_dbl), ("nn_min", c_dbl), ("nn_max", c_dbl),
                ("near_duplicate_pairs", c_i64), ("near_duplicates_listed", c_i64),
                ("bins", c_i64), ("hist_upper", c_dbl), ("subset", c_int),
                ("uniformity", c_dbl)]


class KnnOpts(C.Structure):
    _c_struct_ = "lsc_knn_opts"
    _fields_ = [("size", C.c_size_t), ("metric", c_int), ("exclude_self", c_int),
                ("out_memory", c_int)]


class ReferenceOpts(C.Structure):
    _c_struct_ = "lsc_reference_opts"
    _fields_ = [("size", C.c_size_t), ("metric", c_int), ("comparison", c_int),
                ("borrow_rows", c_int)]


class ReferenceInfo(C.Structure):
    _c_struct_ = "lsc_reference_info"
    _fields_ = [("size", C.c_size_t), ("rows", c_i64), ("cols", c_i64), ("k", c_i64),
                ("metric", c_int), ("comparison", c_int), ("zero_radii", c_i64),
                ("file_version", c_i64), ("prepared", C.c_int32), ("prepared_seed", C.c_uint64),
                ("total_rows", c_i64), ("first_row", c_i64)]


class PrdcResult(C.Structure):
    _c_struct_ = "lsc_prdc_result"
    _fields_ = [("size", C.c_size_t), ("k", c_i64), ("real_rows", c_i64), ("fake_rows", c_i64),
                ("precision", c_dbl), ("recall", c_dbl), ("density", c_dbl), ("coverage", c_dbl),
                ("zero_radii_real", c_i64), ("zero_radii_fake", c_i64), ("comparison", c_int),
                ("metric", c_int), ("coverage_expected", c_dbl)]



class FdResult(C.Structure):
    _c_struct_ = "lsc_fd_result"
    _fields_ = [("size", C.c_size_t), ("cols", c_i64), ("fd", c_dbl), ("mean_term", c_dbl),
                ("trace1", c_dbl), ("trace2", c_dbl), ("trace_sqrt", c_dbl),
                ("tolerance", c_dbl)]


class KidOpts(C.Structure):
    _c_struct_ = "lsc_kid_opts"
    _fields_ = [("size", C.c_size_t), ("subsets", c_i64), ("subset_rows", c_i64),
                ("seed", C.c_uint64)]


class KidResult(C.Structure):
    _c_struct_ = "lsc_kid_result"
    _fields_ = [("size", C.c_size_t), ("subsets", c_i64), ("subset_rows", c_i64),
                ("mean", c_dbl), ("std", c_dbl), ("tolerance", c_dbl)]


class MmdOpts(C.Structure):
    _c_struct_ = "lsc_mmd_opts"
    _fields_ = [("size", C.c_size_t), ("sigma", c_dbl), ("scale", c_dbl)]


class MmdResult(C.Structure):
    _c_struct_ = "lsc_mmd_result"
    _fields_ = [("size", C.c_size_t), ("rows_a", c_i64), ("rows_b", c_i64), ("mmd", c_dbl),
                ("tolerance", c_dbl)]

class Transport(C.Structure):
    _c_struct_ = "lsc_transport"
    _fields_ = [("size", C.c_size_t), ("rank", c_i64), ("ranks", c_i64), ("user", c_vp),
                ("all_reduce", ALL_REDUCE_FN), ("all_gather", ALL_GATHER_FN),
                ("broadcast", BROADCAST_FN), ("ring", RING_FN), ("send_recv", SEND_RECV_FN)]


class AsyncStatus(C.Structure):
    _c_struct_ = "lsc_async_status"
    _fields_ = [("status", C.c_int32), ("reserved", C.c_int32), ("row", c_i64), ("col", c_i64)]


class AssessOpts(C.Structure):
    _c_struct_ = "lsc_assess_opts"
    _fields_ = [("size", C.c_size_t), ("splits", c_i64), ("seed", C.c_uint64),
                ("memorisation_factor", c_dbl), ("inactive_factor", c_dbl), ("prdc", c_vp),
                ("real_labels", c_vp), ("fake_labels", c_vp), ("near_distance", c_dbl),
                ("order_uncovered", c_i64)]


class Verdict(C.Structure):
    _c_struct_ = "lsc_verdict"
    _fields_ = [("size", C.c_size_t), ("check", c_int), ("level", c_int),
                ("statistic", C.c_char_p), ("value", c_dbl), ("matched", c_dbl),
                ("baseline", c_dbl), ("spread", c_dbl), ("method", C.c_char_p),
                ("interval_lo", c_dbl), ("interval_hi", c_dbl), ("effect", c_dbl),
                ("score", c_dbl), ("borderline_line", c_dbl), ("collapse_line", c_dbl),
                ("why", C.c_char * 400)]


class ClassVerdict(C.Structure):
    _c_struct_ = "lsc_class_verdict"
    _fields_ = [("size", C.c_size_t), ("label", c_i64), ("real_rows", c_i64),
                ("coverage", c_dbl), ("level", c_int), ("matched", c_dbl), ("baseline", c_dbl),
                ("spread", c_dbl), ("effect", c_dbl), ("score", c_dbl), ("share_level", c_int),
                ("share", c_dbl), ("share_baseline", c_dbl), ("share_effect", c_dbl),
                ("share_score", c_dbl)]


class TwonnOpts(C.Structure):
    _c_struct_ = "lsc_twonn_opts"
    _fields_ = [("size", C.c_size_t), ("max_rows", c_i64), ("seed", C.c_uint64),
                ("discard_fraction", c_dbl)]


class TwonnResult(C.Structure):
    _c_struct_ = "lsc_twonn_result"
    _fields_ = [("size", C.c_size_t), ("rows", c_i64), ("distinct_rows", c_i64),
                ("duplicate_rows", c_i64), ("rows_used", c_i64), ("points_fitted", c_i64),
                ("dimension", c_dbl), ("subset", c_int)]


class HubnessOpts(C.Structure):
    _c_struct_ = "lsc_hubness_opts"
    _fields_ = [("size", C.c_size_t), ("k", c_i64), ("metric", c_int), ("max_rows", c_i64),
                ("seed", C.c_uint64)]


class HubnessResult(C.Structure):
    _c_struct_ = "lsc_hubness_result"
    _fields_ = [("size", C.c_size_t), ("k", c_i64), ("base_rows", c_i64), ("query_rows", c_i64),
                ("skewness", c_dbl), ("robin_hood", c_dbl), ("max_occurrence", c_i64),
                ("antihubs", c_i64), ("subset", c_int)]


class VendiRbfOpts(C.Structure):
    _c_struct_ = "lsc_vendi_rbf_opts"
    _fields_ = [("size", C.c_size_t), ("sigma", c_dbl), ("max_rows", c_i64),
                ("seed", C.c_uint64)]


class VendiRbfResult(C.Structure):
    _c_struct_ = "lsc_vendi_rbf_result"
    _fields_ = [("size", C.c_size_t), ("rows_used", c_i64), ("sigma", c_dbl),
                ("vendi_q2", c_dbl), ("tolerance", c_dbl), ("subset", c_int)]


def _candidates():
    env = os.environ.get("LSC_LIBRARY")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    found = []
    for pattern in ("_native/lib*/liblsc.so.*", "_native/lib*/*/liblsc.so.*",
                    "_native/lib*/liblsc.dylib", "_native/lib*/liblsc.so"):
        found += sorted(glob.glob(os.path.join(here, pattern)))
    return found


def _load():
    tried = _candidates()
    for path in tried:
        if os.path.exists(path):
            return C.CDLL(path, mode=C.RTLD_LOCAL)
    raise ImportError(
        "lsc: the native library liblsc was not found (looked at %s); install the package with "
        "`pip install ./python`, or set LSC_LIBRARY to a built liblsc.so" % (tried or "nothing"))


lib = _load()


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


P = C.POINTER
_fn("lsc_version", C.c_char_p)
_fn("lsc_version_number", c_int)
_fn("lsc_status_string", C.c_char_p, c_int)
_fn("lsc_status_name", C.c_char_p, c_int)
_fn("lsc_ctx_create", c_int, P(CtxParams), P(c_vp))
_fn("lsc_ctx_destroy", None, c_vp)
_fn("lsc_last_error", C.c_char_p, c_vp)
_fn("lsc_ctx_backend", c_int, c_vp)
_fn("lsc_ctx_device_name", C.c_char_p, c_vp)
_fn("lsc_ctx_set_stream", c_int, c_vp, c_vp)
_fn("lsc_ctx_set_progress", c_int, c_vp, PROGRESS_FN, c_vp)
_fn("lsc_ctx_supports", c_int, c_vp, c_int, P(c_int))
_fn("lsc_permute", c_i64, C.c_uint64, c_i64, c_i64)
_fn("lsc_permute_inverse", c_i64, C.c_uint64, c_i64, c_i64)
_fn("lsc_sample_rows", c_int, c_vp, C.c_uint64, c_i64, c_i64, c_i64, P(c_i64))
_fn("lsc_spectrum", c_int, c_vp, P(Matrix), P(SpectrumOpts), P(SpectrumResult), P(c_dbl), P(c_dbl))
_fn("lsc_spectrum_acc_create", c_int, c_vp, c_i64, P(SpectrumOpts), P(c_vp))
_fn("lsc_spectrum_acc_add", c_int, c_vp, c_vp, P(Matrix))
_fn("lsc_spectrum_acc_merge", c_int, c_vp, c_vp, c_vp)
_fn("lsc_spectrum_acc_rows", c_i64, c_vp)
_fn("lsc_spectrum_acc_finalize", c_int, c_vp, c_vp, P(SpectrumResult), P(c_dbl), P(c_dbl))
_fn("lsc_spectrum_acc_destroy", None, c_vp)
_fn("lsc_distances", c_int, c_vp, P(Matrix), P(Matrix), c_int, c_vp, c_i64, c_int)
_fn("lsc_pair_stats", c_int, c_vp, P(Matrix), P(PairOpts), P(PairResult), P(c_i64), P(Pair))
_fn("lsc_knn", c_int, c_vp, P(Matrix), P(Matrix), c_i64, P(KnnOpts), c_vp, c_vp)
_fn("lsc_reference_create", c_int, c_vp, P(Matrix), c_i64, P(ReferenceOpts), P(c_vp))
_fn("lsc_reference_save", c_int, c_vp, c_vp, C.c_char_p)
_fn("lsc_reference_load", c_int, c_vp, C.c_char_p, P(c_vp))
_fn("lsc_reference_info_get", c_int, c_vp, P(ReferenceInfo))
_fn("lsc_reference_radii", P(c_dbl), c_vp)
_fn("lsc_reference_rows", P(C.c_float), c_vp)
_fn("lsc_reference_prepare", c_int, c_vp, c_vp, C.c_uint64)
_fn("lsc_reference_destroy", None, c_vp)
_fn("lsc_reference_to_device", c_int, c_vp, c_vp, P(c_vp))
_fn("lsc_prdc", c_int, c_vp, c_vp, P(Matrix), P(PrdcResult))
_fn("lsc_prdc_rows", c_int, c_vp, c_vp, P(Matrix), P(PrdcResult), c_vp, c_vp)
_fn("lsc_spectrum_async", c_int, c_vp, P(Matrix), P(SpectrumOpts), c_vp, c_vp)
_fn("lsc_prdc_async", c_int, c_vp, c_vp, P(Matrix), c_vp, c_vp)
_fn("lsc_check_name", C.c_char_p, c_int)
_fn("lsc_ctx_set_transport", c_int, c_vp, P(Transport))
_fn("lsc_ctx_ranks", c_int, c_vp, P(c_i64), P(c_i64))
_fn("lsc_spectrum_sharded", c_int, c_vp, P(Matrix), P(SpectrumOpts), P(SpectrumResult), P(c_dbl),
    P(c_dbl))
_fn("lsc_knn_sharded", c_int, c_vp, P(Matrix), P(Matrix), c_i64, P(KnnOpts), c_vp, c_vp)
_fn("lsc_pair_stats_sharded", c_int, c_vp, P(Matrix), P(PairOpts), P(PairResult), P(c_i64), P(Pair))
_fn("lsc_reference_create_sharded", c_int, c_vp, P(Matrix), c_i64, P(ReferenceOpts), P(c_vp))
_fn("lsc_reference_save_sharded", c_int, c_vp, c_vp, C.c_char_p)
_fn("lsc_reference_load_sharded", c_int, c_vp, C.c_char_p, P(c_vp))
_fn("lsc_prdc_sharded", c_int, c_vp, c_vp, P(Matrix), P(PrdcResult))
_fn("lsc_level_name", C.c_char_p, c_int)
_fn("lsc_assess", c_int, c_vp, c_vp, P(Matrix), P(AssessOpts), P(c_vp))
_fn("lsc_assess_sharded", c_int, c_vp, c_vp, P(Matrix), P(AssessOpts), P(c_vp))
_fn("lsc_assessment_verdict", c_int, c_vp, c_int, P(Verdict))
_fn("lsc_assessment_level", c_int, c_vp)
_fn("lsc_assessment_prdc", c_int, c_vp, P(PrdcResult))
_fn("lsc_assessment_class_count", c_i64, c_vp)
_fn("lsc_assessment_class", c_int, c_vp, c_i64, P(ClassVerdict))
_fn("lsc_assessment_uncovered", c_int, c_vp, P(c_i64), c_i64, P(c_i64))
_fn("lsc_assessment_near_rows", c_i64, c_vp)
_fn("lsc_assessment_destroy", None, c_vp)
_fn("lsc_twonn", c_int, c_vp, P(Matrix), P(TwonnOpts), P(TwonnResult))
_fn("lsc_hubness", c_int, c_vp, P(Matrix), P(Matrix), P(HubnessOpts), P(HubnessResult))
_fn("lsc_vendi_rbf", c_int, c_vp, P(Matrix), P(VendiRbfOpts), P(VendiRbfResult))
_fn("lsc_alignment", c_int, c_vp, P(Matrix), P(Matrix), P(c_dbl))
_fn("lsc_frechet_distance_stats", c_int, c_vp, c_i64, P(c_dbl), P(c_dbl), P(c_dbl), P(c_dbl),
    P(FdResult))
_fn("lsc_fd_stats", c_int, c_vp, P(Matrix), P(c_dbl), P(c_dbl))
_fn("lsc_frechet_distance", c_int, c_vp, P(Matrix), P(Matrix), P(FdResult))
_fn("lsc_fd_acc_create", c_int, c_vp, c_i64, P(c_vp))
_fn("lsc_fd_acc_add", c_int, c_vp, c_vp, P(Matrix))
_fn("lsc_fd_acc_merge", c_int, c_vp, c_vp, c_vp)
_fn("lsc_fd_acc_rows", c_i64, c_vp)
_fn("lsc_fd_acc_stats", c_int, c_vp, c_vp, P(c_dbl), P(c_dbl))
_fn("lsc_fd_acc_destroy", None, c_vp)
_fn("lsc_kid", c_int, c_vp, P(Matrix), P(Matrix), P(KidOpts), P(KidResult), P(c_dbl))
_fn("lsc_mmd", c_int, c_vp, P(Matrix), P(Matrix), P(MmdOpts), P(MmdResult))


def new(cls):
    """A zeroed struct of `cls` (one that starts with `size`) with its size set, as its _INIT
    macro does: every result and info struct handed to the library must carry it."""
    s = cls()
    s.size = C.sizeof(cls)
    return s


def set_size(cls, address: int):
    """Sets the `size` field of the `cls` struct at `address` (memory the binding allocated, such
    as the pinned buffers an async call writes its result into: the device reads the size from
    there, so it must be set before each call). Returns the struct, a view of that memory."""
    s = cls.from_address(address)
    s.size = C.sizeof(cls)
    return s


def params_init():
    return new(CtxParams)
