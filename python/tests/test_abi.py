"""The ctypes mirrors of python/src/lsc/_native.py against the C compiler's layout of lsc.h.

tests/abi/layouts.c prints every public struct's sizeof and each field's offsetof and sizeof (and
which fields are floating point) as JSON. It is the CMake target lsc_layouts, which ctest's
python_binding test hands over through LSC_LAYOUTS; without that variable (CI's `pip install
./python` + pytest, a developer's pytest) this test compiles it with the system C compiler ($CC,
else cc, gcc or clang) against the header shipped with the installed package (lsc/_native/include)
or else the repository's include/. A drifted mirror fails; only a missing C compiler skips.
"""
import ctypes as C
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from lsc import _native as N

REPO = Path(__file__).resolve().parents[2]
LAYOUTS_C = REPO / "tests" / "abi" / "layouts.c"
FLOATING = (C.c_float, C.c_double, C.c_longdouble)


def _mirrors():
    """Every ctypes struct _native.py defines, by the C struct it names in _c_struct_."""
    return [cls for cls in vars(N).values()
            if isinstance(cls, type) and issubclass(cls, C.Structure)
            and cls.__module__ == N.__name__]


MIRRORS = {getattr(cls, "_c_struct_", cls.__name__): cls for cls in _mirrors()}


def _include_dir():
    """The lsc.h of the installed package when it ships one (the header its liblsc was built
    from), else the repository's."""
    for d in (Path(N.__file__).resolve().parent / "_native" / "include", REPO / "include"):
        if (d / "lsc.h").is_file():
            return d
    return None


def _compiler():
    if os.environ.get("CC"):
        cc = shlex.split(os.environ["CC"])
        if cc and shutil.which(cc[0]):
            return cc
    for name in ("cc", "gcc", "clang"):
        if shutil.which(name):
            return [name]
    return None


@pytest.fixture(scope="session")
def layouts(tmp_path_factory):
    """(the JSON of tests/abi/layouts.c, where it came from)"""
    exe = os.environ.get("LSC_LAYOUTS")
    if exe:
        if not os.path.isfile(exe):
            pytest.fail(f"LSC_LAYOUTS={exe} is not a file (build the lsc_layouts target)")
        where = f"LSC_LAYOUTS={exe}"
    else:
        cc = _compiler()
        if cc is None:
            pytest.skip("no C compiler found ($CC, cc, gcc, clang): cannot compile "
                        "tests/abi/layouts.c to check the ctypes mirrors against lsc.h")
        inc = _include_dir()
        if inc is None:
            pytest.fail(f"no lsc.h: neither the package ({N.__file__}) ships include/ nor is "
                        f"{REPO / 'include'} there")
        if not LAYOUTS_C.is_file():
            pytest.fail(f"{LAYOUTS_C} is missing: run the tests from the repository")
        exe = str(tmp_path_factory.mktemp("abi") / "lsc_layouts")
        cmd = cc + ["-std=c11", "-I", str(inc), str(LAYOUTS_C), "-o", exe]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
        where = f"{LAYOUTS_C.name} compiled by {cc[0]} against {inc / 'lsc.h'}"
    r = subprocess.run([exe], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"{exe} exited {r.returncode}: {r.stderr}")
    return json.loads(r.stdout), where


def _c_structs(lay):
    return {k: v for k, v in lay.items() if isinstance(v, dict)}


def test_every_mirror_names_the_c_struct_it_mirrors():
    missing = [cls.__name__ for cls in _mirrors() if not hasattr(cls, "_c_struct_")]
    assert not missing, f"_native.py structs without _c_struct_: {missing}"
    assert len(MIRRORS) == len(_mirrors()), "two mirrors name the same C struct"


@pytest.mark.parametrize("c_name", sorted(MIRRORS))
def test_mirror_matches_the_c_layout(layouts, c_name):
    lay, where = layouts
    cls = MIRRORS[c_name]
    assert c_name in lay, f"{cls.__name__}: {c_name} is not a struct of lsc.h ({where})"
    want = lay[c_name]
    errors = []
    if C.sizeof(cls) != want["size"]:
        errors.append(f"sizeof {C.sizeof(cls)}, C {want['size']}")
    py_fields = [name for name, *_ in cls._fields_]
    if py_fields != list(want["fields"]):
        errors.append(f"fields {py_fields},\n    C has {list(want['fields'])}")
    for name, ftype, *_ in cls._fields_:
        if name not in want["fields"]:
            continue
        off, size = getattr(cls, name).offset, C.sizeof(ftype)
        floating = ftype in FLOATING
        if off != want["fields"][name]:
            errors.append(f"{name}: offset {off}, C {want['fields'][name]}")
        if size != want["field_sizes"][name]:
            errors.append(f"{name}: size {size}, C {want['field_sizes'][name]}")
        if floating != (name in want["floating"]):
            errors.append(f"{name}: {'floating' if floating else 'integer'} in ctypes, "
                          f"{'floating' if name in want['floating'] else 'integer'} in C")
    assert not errors, (f"_native.{cls.__name__} drifted from {c_name} ({where}):\n  "
                        + "\n  ".join(errors))


def test_every_c_struct_has_a_mirror(layouts):
    lay, where = layouts
    assert sorted(set(_c_structs(lay)) - set(MIRRORS)) == [], f"structs of lsc.h ({where}) " \
        "without a ctypes mirror in _native.py"


def _header_structs(path):
    """{struct: [field, ...]} of every `typedef struct NAME { ... } NAME;` in lsc.h."""
    text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", path.read_text(), flags=re.S)
    out = {}
    for name, body in re.findall(r"typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*\1\s*;", text, re.S):
        fields = []
        for decl in body.split(";"):
            decl = re.sub(r"\[[^\]]*\]", "", decl).strip()
            if decl:
                fields += [re.findall(r"\w+", part)[-1] for part in decl.split(",")]
        out[name] = fields
    return out


def test_layouts_c_lists_every_struct_and_field_of_the_header(layouts):
    lay, where = layouts
    inc = _include_dir()
    if inc is None:
        pytest.fail("no lsc.h to read")
    header = _header_structs(inc / "lsc.h")
    assert len(header) >= 10, f"the parse of {inc / 'lsc.h'} found only {sorted(header)}"
    got = {k: list(v["fields"]) for k, v in _c_structs(lay).items()}
    assert got == header, f"tests/abi/layouts.c ({where}) and {inc / 'lsc.h'} disagree: " \
                          "update layouts.c (and the mirrors) to the header"


def test_the_header_is_the_loaded_librarys(layouts):
    lay, where = layouts
    assert lay["version_number"] == N.lib.lsc_version_number(), \
        f"layouts from a header of version {lay['version_number']} ({where}), the loaded liblsc " \
        f"is {N.lib.lsc_version().decode()}"


def test_result_structs_carry_their_size():
    for cls in (N.SpectrumResult, N.PairResult, N.PrdcResult, N.ReferenceInfo, N.CtxParams,
                N.AssessOpts, N.Verdict):
        assert N.new(cls).size == C.sizeof(cls)
    buf = C.create_string_buffer(C.sizeof(N.PrdcResult))
    assert N.set_size(N.PrdcResult, C.addressof(buf)).size == C.sizeof(N.PrdcResult)
    assert N.PrdcResult.from_buffer(buf).size == C.sizeof(N.PrdcResult)


def _header_text():
    inc = _include_dir()
    if inc is None:
        pytest.fail("no lsc.h to read")
    return re.sub(r"/\*.*?\*/", " ", (inc / "lsc.h").read_text(), flags=re.S)


def test_assess_defaults_are_the_headers():
    # lsc.assess passes every option explicitly, so its defaults must be LSC_ASSESS_OPTS_INIT's
    import inspect
    import lsc
    from lsc._core import ASSESS_DEFAULTS
    m = re.search(r"#define\s+LSC_ASSESS_OPTS_INIT\s*\{\s*sizeof\(lsc_assess_opts\)\s*,"
                  r"([^}]*)\}", _header_text())
    assert m, "LSC_ASSESS_OPTS_INIT not found in lsc.h"
    values = [v.strip() for v in m.group(1).split(",")]
    header = dict(zip(["splits", "seed", "memorisation_factor", "inactive_factor"],
                      [int(values[0]), int(values[1]), float(values[2]), float(values[3])]))
    assert ASSESS_DEFAULTS == header
    params = inspect.signature(lsc.assess).parameters
    assert {k: params[k].default for k in header} == header


def test_check_and_level_names_are_the_librarys():
    # the binding names checks and levels through the library; its constants agree with lsc.h
    text = _header_text()
    levels = dict((name.lower(), int(v)) for name, v in
                  re.findall(r"LSC_LEVEL_(\w+)\s*=\s*(\d+)", text))
    assert levels == N.LEVELS
    assert {v: N.lib.lsc_level_name(v).decode() for v in levels.values()} == N.LEVEL_NAMES
    checks = dict(re.findall(r"LSC_CHECK_(\w+)\s*=\s*(\d+)", text))
    assert int(checks.pop("COUNT")) == N.CHECK_COUNT == len(checks)
    for name, v in checks.items():
        assert N.lib.lsc_check_name(int(v)).decode() == name.lower()
    assert N.lib.lsc_check_name(N.CHECK_COUNT).decode() == "unknown"


def test_async_pinned_buffers_get_their_sizes():
    # the Monitor's async path: the device reads each result's size from the pinned buffer it
    # writes the result into (here a host buffer of the same layout, no GPU needed)
    from lsc._monitor import _Pending
    buf = (C.c_ubyte * (C.sizeof(N.SpectrumResult) + C.sizeof(N.PrdcResult)))()
    p = _Pending.__new__(_Pending)
    p.spec_ptr = C.addressof(buf)
    p.prdc_ptr = p.spec_ptr + C.sizeof(N.SpectrumResult)
    p.set_sizes()
    assert N.SpectrumResult.from_address(p.spec_ptr).size == C.sizeof(N.SpectrumResult)
    assert N.PrdcResult.from_address(p.prdc_ptr).size == C.sizeof(N.PrdcResult)


def test_async_status_of_a_refused_result_is_raised():
    # a result whose size the device refused comes back as INVALID_ARGUMENT in the async status
    # (and nothing written): the monitor raises it instead of handing out zeros
    import lsc
    from lsc._monitor import _Pending
    sizes = [C.sizeof(N.SpectrumResult), C.sizeof(N.PrdcResult), C.sizeof(N.AsyncStatus),
             C.sizeof(N.AsyncStatus)]
    buf = (C.c_ubyte * sum(sizes))()
    p = _Pending.__new__(_Pending)
    p.step, p.call_ms, p.want_spectrum, p.want_prdc = 3, 0.0, True, True
    p.event = type("Event", (), {"synchronize": lambda self: None})()
    p.spec_ptr = C.addressof(buf)
    p.prdc_ptr = p.spec_ptr + sizes[0]
    p.st_spec = p.prdc_ptr + sizes[1]
    p.st_prdc = p.st_spec + sizes[2]
    N.AsyncStatus.from_address(p.st_prdc).status = 1
    with pytest.raises(lsc.InvalidArgument, match="step 3") as e:
        p.result()
    assert e.value.status == "LSC_STATUS_INVALID_ARGUMENT"
