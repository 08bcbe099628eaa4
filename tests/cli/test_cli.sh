#!/usr/bin/env bash
# End-to-end tests of the `lsc` command line: every command on good files, the JSON report,
# every kind of bad input (exit 2 and exactly one line on stderr), report --reference against
# report --real, the readings made from the verdicts, and the demo's readings.
# usage: test_cli.sh path/to/lsc [scratch-dir]
# Fixtures are written with python3's standard library only (struct).
set -u
LSC=${1:?usage: test_cli.sh path/to/lsc [scratch-dir]}
LSC=$(cd "$(dirname "$LSC")" && pwd)/$(basename "$LSC")
FIX=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures/formats" && pwd)
DIR=${2:-$(mktemp -d)}
rm -rf "$DIR"
mkdir -p "$DIR"
cd "$DIR" || exit 1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

python3 - <<'PY' || { echo "FAIL: could not write the fixtures"; exit 1; }
import random, struct

def npy(path, rows, shape, descr="<f4", fmt="f", fortran=False, version=1, header=None, cut=0):
    flat = [v for r in rows for v in r] if rows and isinstance(rows[0], list) else list(rows)
    if fortran and rows and isinstance(rows[0], list):
        flat = [rows[i][j] for j in range(len(rows[0])) for i in range(len(rows))]
    h = header if header is not None else "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", shape)
    pre = 10 if version == 1 else 12
    pad = (64 - (pre + len(h) + 1) % 64) % 64
    h = h + " " * pad + "\n"
    out = b"\x93NUMPY" + bytes([version, 0])
    out += struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    out += h.encode("latin1")
    out += struct.pack("<%d%s" % (len(flat), fmt), *flat)
    if cut:
        out = out[:-cut]
    open(path, "wb").write(out)

rng = random.Random(1)
def gauss(n, d, shift=0.0):
    return [[rng.gauss(shift, 1.0) for _ in range(d)] for _ in range(n)]

real = gauss(300, 8)
fake = gauss(200, 8, 0.1)
npy("real.npy", real, "(300, 8)")
npy("fake.npy", fake, "(200, 8)")
npy("real64.npy", real, "(300, 8)", "<f8", "d")
npy("fake16.npy", fake, "(200, 8)", "<f2", "e")
npy("fakeF.npy", fake, "(200, 8)", fortran=True)
npy("fake_v2.npy", fake, "(200, 8)", version=2)
with open("fake.fvecs", "wb") as f:
    for r in fake:
        f.write(struct.pack("<i", 8) + struct.pack("<8f", *r))
npy("d6.npy", gauss(200, 6), "(200, 6)")
small = gauss(4, 8)
npy("small.npy", small, "(4, 8)")
bad = [r[:] for r in fake]; bad[3][2] = float("nan")
npy("nan.npy", bad, "(200, 8)")
bad = [r[:] for r in fake]; bad[7][5] = float("inf")
npy("inf.npy", bad, "(200, 8)")
npy("trunc.npy", fake, "(200, 8)", cut=100)
npy("short.npy", fake, "(300, 8)")            # header claims more rows than the data holds
npy("garbage.npy", fake, "", header="{'descr': '<f4', 'fortran_order': False, 'shape': (200, 8)")
open("notnpy.npy", "wb").write(b"this is not a numpy file at all, just text\n" * 4)
npy("int.npy", [[int(v * 10) for v in r] for r in fake], "(200, 8)", "<i4", "i")
npy("one_d.npy", [v for r in fake for v in r], "(1600,)")
npy("three_d.npy", [v for r in fake for v in r], "(200, 2, 4)")
npy("zero_rows.npy", [], "(0, 8)")
z = [r[:] for r in fake]; z[5] = [0.0] * 8
npy("zero_row.npy", z, "(200, 8)")
npy("same.npy", [[0.5] * 8 for _ in range(50)], "(50, 8)")
open("empty.npy", "wb").close()
# 8 well-separated modes; a generator of 2 of them (collapsed) and one of all 8 (healthy), with
# enough rows that the verdicts can resolve mode collapse
centres = [[rng.gauss(0, 4) for _ in range(8)] for _ in range(8)]
def modes(n, which):
    return [[c + rng.gauss(0, 1) for c in centres[which[i % len(which)]]] for i in range(n)]
npy("modes_real.npy", modes(1200, range(8)), "(1200, 8)")
npy("modes_two.npy", modes(300, [0, 1]), "(300, 8)")
npy("modes_all.npy", modes(300, range(8)), "(300, 8)")
# their labels (row i of a set of modes `which` is mode which[i % len(which)]), as int64 and int16
npy("modes_real_labels.npy", [i % 8 for i in range(1200)], "(1200,)", "<i8", "q")
npy("modes_two_labels.npy", [i % 2 for i in range(300)], "(300,)", "<i2", "h")
PY

pass=0
fails=0
ok() {   # ok NAME CMD...: exit 0
    local name=$1; shift
    if "$@" > out.txt 2> err.txt; then
        pass=$((pass + 1))
    else
        echo "FAIL: $name: exit $? from: $*"; sed 's/^/    /' err.txt | head -5; fails=$((fails + 1))
    fi
}
bad() {  # bad NAME CODE CMD...: exit CODE and exactly one line on stderr
    local name=$1 want=$2; shift 2
    "$@" > out.txt 2> err.txt
    local rc=$? lines
    lines=$(wc -l < err.txt)
    if [ "$rc" -eq "$want" ] && [ "$lines" -eq 1 ]; then
        pass=$((pass + 1))
    else
        echo "FAIL: $name: exit $rc (want $want), $lines stderr lines (want 1) from: $*"
        sed 's/^/    /' err.txt | head -5; fails=$((fails + 1))
    fi
}
has() {  # has NAME FILE TEXT: FILE contains TEXT
    if grep -qF -- "$3" "$2"; then pass=$((pass + 1)); else echo "FAIL: $1: '$3' not in $2"; fails=$((fails + 1)); fi
}

# ---- every command on good files -----------------------------------------------------------------
ok "version" "$LSC" version
ok "help" "$LSC" --help
for c in report demo spectrum pairs knn prdc reference; do ok "$c --help" "$LSC" $c --help; done
ok "reference build --help" "$LSC" reference build --help
ok "report" "$LSC" report --real real.npy --fake fake.npy --backend cpu
has "report readings" out.txt "readings:"
has "report equal N" out.txt "equal N = 200"
ok "report one set" "$LSC" report --real real.npy
ok "report f64/f16" "$LSC" report --real real64.npy --fake fake16.npy --k 3 --metric cosine --inclusive
ok "report fortran" "$LSC" report --real real.npy --fake fakeF.npy
ok "report npy v2" "$LSC" report --real real.npy --fake fake_v2.npy
ok "report fvecs" "$LSC" report --real real.npy --fake fake.fvecs
ok "report subset" "$LSC" report --real real.npy --fake fake.npy --pairs-max-rows 50 --seed 3 --json r50.json
has "report subset said" out.txt "seeded subset"
ok "report json -" "$LSC" report --real real.npy --fake fake.npy --json - --dup-eps 1e-5 --bins 16 \
    --active-threshold 0.5 --dim-collapse-ratio 0.4 --geometry
cp out.txt report.json
ok "report zero row" "$LSC" report --real real.npy --fake zero_row.npy --json zero_row.json
has "report zero row: vendi unavailable" out.txt "unavailable"
ok "report identical rows" "$LSC" report --real real.npy --fake same.npy --json same.json --geometry
has "identical rows read" out.txt "fake: all rows identical"
ok "report one set of identical rows" "$LSC" report --real same.npy --json same_one.json
has "one set: no verdicts, no readings" out.txt "readings: none"

# ---- verdicts: led by the report, in the JSON, and --fail-on --------------------------------------
ok "report verdicts" "$LSC" report --real real.npy --fake fake.npy --splits 8
sed -n 1,6p out.txt > head.txt
has "report leads with the verdict" head.txt "verdict: "
has "report names each check" out.txt "posterior_collapse"
"$LSC" report --real real.npy --fake same.npy --json fail_on.json --fail-on collapse > out.txt 2> err.txt
rc=$?
if [ "$rc" -eq 3 ] && [ ! -s err.txt ] && python3 -c "
import json; r = json.load(open('fail_on.json'))
assert r['verdict'] == 'collapse', r['verdict']
assert set(r['verdicts']) == {'mode_collapse', 'low_fidelity', 'diversity_loss', 'dimensional_collapse',
                              'memorisation', 'posterior_collapse'}, r['verdicts'].keys()
for v in r['verdicts'].values():
    assert v['level'] in ('ok', 'borderline', 'collapse', 'not_assessed'), v
    assert set(v) >= {'level', 'statistic', 'baseline', 'interval', 'effect', 'why'}, v
assert r['params']['splits'] == 16
"; then pass=$((pass + 1)); else echo "FAIL: --fail-on collapse: exit $rc (want 3, every output written)"; fails=$((fails + 1)); fi
bad "report --fail-on unknown" 2 "$LSC" report --real real.npy --fake fake.npy --fail-on sometimes
bad "report --splits 2" 2 "$LSC" report --real real.npy --fake fake.npy --splits 2

ok "spectrum" "$LSC" spectrum --input real.npy
ok "spectrum json" "$LSC" spectrum --input real.npy --json spectrum.json
ok "pairs" "$LSC" pairs --input real.npy --bins 8 --dup-eps 0.01
ok "pairs json" "$LSC" pairs --input real.npy --json pairs.json --pairs-max-rows 100
ok "knn self" "$LSC" knn --queries real.npy --k 4 --out-dist d.npy --out-idx i.npy
ok "knn base" "$LSC" knn --queries fake.npy --base real.npy --k 300 --json knn.json
ok "knn reads its own output" "$LSC" spectrum --input d.npy
ok "prdc" "$LSC" prdc --real real.npy --fake fake.npy --k 5
ok "prdc json" "$LSC" prdc --real real.npy --fake fake.npy --json prdc.json
ok "reference build" "$LSC" reference build --real real.npy --k 5 --out ref.lscref
ok "reference inspect" "$LSC" reference inspect ref.lscref
has "reference inspect k" out.txt "k 5"
ok "prdc reference" "$LSC" prdc --reference ref.lscref --fake fake.npy --json prdc_ref.json
ok "prdc reference json -" "$LSC" reference inspect ref.lscref --json -

python3 - <<'PY' || { echo "FAIL: JSON checks"; fails=$((fails + 1)); }
import json
r = json.load(open("report.json"))
for k in ["lsc_version", "backend", "device", "inputs", "params", "spectrum", "pairwise", "prdc",
          "definitions", "readings", "readings_fixed_thresholds", "deprecated", "timings_ms"]:
    assert k in r, k
assert r["backend"] in ("cpu", "cuda")
assert r["inputs"]["real"] == {"path": "real.npy", "rows": 300, "cols": 8, "dtype": "float32"}
for k in ["k", "metric", "comparison", "dup_eps", "bins", "active_threshold", "pairs_max_rows", "seed"]:
    assert k in r["params"], k
assert r["params"]["bins"] == 16 and r["params"]["dim_collapse_ratio"] == 0.4
for side in ["real", "fake"]:
    s = r["spectrum"][side]
    for k in ["effective_rank", "rankme", "participation_ratio", "stable_rank", "dims_90", "dims_99",
              "active_units", "total_variance", "vendi_cosine", "singular_values", "rows_used"]:
        assert k in s, (side, k)
    assert s["rows_used"] == 200 and len(s["singular_values"]) == 8
    for k in ["vendi_cosine_q0", "vendi_cosine_q2", "vendi_cosine_qinf", "alpha_req",
              "alpha_req_r2", "alpha_req_ranks"]:
        assert k in s, (side, k)
    assert s["vendi_cosine_qinf"] <= s["vendi_cosine_q2"] <= s["vendi_cosine"] <= s["vendi_cosine_q0"]
    g = r["geometry"][side]
    assert g["intrinsic_dimension"]["twonn"] > 0 and g["intrinsic_dimension"]["rows"] in (200, 300)
    assert g["hubness"]["k"] == 10 and 0 <= g["hubness"]["robin_hood"] <= 1, g
    assert 1 <= g["vendi_rbf"]["vendi_q2"] <= g["vendi_rbf"]["rows_used"] and g["vendi_rbf"]["sigma"] == 10, g
    p = r["pairwise"][side]
    for k in ["mean", "std", "min", "max", "nn_mean", "nn_median", "nn_min", "nn_max",
              "near_duplicate_pairs", "near_duplicates", "histogram", "rows_used"]:
        assert k in p, (side, k)
    assert -4.0 <= p["uniformity"] <= 0.0, p["uniformity"]
    assert len(p["histogram"]["counts"]) == 16 and len(p["histogram"]["edges"]) == 17
    n = p["rows_used"]
    assert sum(p["histogram"]["counts"]) == n * (n - 1) // 2
for k in ["k", "precision", "recall", "density", "coverage", "zero_radii_real", "zero_radii_fake"]:
    assert k in r["prdc"], k
# the readings come from the verdicts; the deprecated fixed-threshold ones keep their own key
assert r["verdict"] == "ok" and r["readings"][0].startswith("no collapse detected"), r["readings"]
assert r["readings_fixed_thresholds"] == ["no collapse detected"], r["readings_fixed_thresholds"]
assert "readings_fixed_thresholds" in r["deprecated"]
assert r["spectrum_all_rows"]["real"]["rows_used"] == 300 and "fake" not in r["spectrum_all_rows"]
s = json.load(open("r50.json"))
assert "geometry" not in s and "geometry_fake" not in s["timings_ms"]   # only with --geometry
assert s["pairwise"]["real"]["rows_used"] == 50 and s["pairwise"]["real"]["subset"] is True
assert s["prdc"]["real_rows"] == 300 and s["prdc"]["fake_rows"] == 200   # PRDC on every row
z = json.load(open("zero_row.json"))["spectrum"]["fake"]
assert z["vendi_cosine"] is None and "row 5" in z["vendi_cosine_unavailable"], z
assert "vendi_cosine_unavailable" not in r["spectrum"]["real"]
same = json.load(open("same.json"))
assert same["pairwise"]["fake"]["near_duplicate_pairs"] == 50 * 49 // 2
assert abs(same["pairwise"]["fake"]["uniformity"]) < 1e-9   # identical rows: log 1
assert abs(same["geometry"]["fake"]["vendi_rbf"]["vendi_q2"] - 1) < 1e-9   # one mode
assert same["spectrum"]["fake"]["effective_rank"] == 0
# one distinct row: no intrinsic dimension, said why; the generated rows pile onto few real rows
gf = same["geometry"]["fake"]["intrinsic_dimension"]
assert gf["twonn"] is None and "1 distinct rows" in gf["twonn_unavailable"], gf
assert same["geometry"]["hubness_fake_to_real"]["robin_hood"] > r["geometry"]["hubness_fake_to_real"]["robin_hood"]
fx = same["readings_fixed_thresholds"]
for want in ["dimensional collapse:", "memorisation or a stuck sampler", "fake: all rows identical"]:
    assert any(x.startswith(want) for x in fx), (want, fx)
assert same["verdict"] == "collapse" and not same["readings"][0].startswith("no collapse"), same["readings"]
one = json.load(open("same_one.json"))
assert "verdicts" not in one and one["readings"] == [], one["readings"]
assert "real: all rows identical" in one["readings_fixed_thresholds"], one["readings_fixed_thresholds"]
import ast, math, struct
def readnpy(path):
    b = open(path, "rb").read()
    assert b[:6] == b"\x93NUMPY"
    hl = struct.unpack("<H", b[8:10])[0]
    h = ast.literal_eval(b[10:10 + hl].decode("latin1"))
    n = h["shape"][0] * h["shape"][1]
    fmt = {"<f4": "f", "<i8": "q"}[h["descr"]]
    return h, struct.unpack("<%d%s" % (n, fmt), b[10 + hl:])
hd, dist = readnpy("d.npy")
hi, idx = readnpy("i.npy")
assert hd["shape"] == (300, 4) and hi["shape"] == (300, 4) and not hd["fortran_order"]
for q in range(300):
    row = idx[q * 4:(q + 1) * 4]
    assert q not in row and len(set(row)) == 4 and all(0 <= j < 300 for j in row)
    ds = dist[q * 4:(q + 1) * 4]
    assert all(a <= b for a, b in zip(ds, ds[1:]))
for f in ["spectrum.json", "pairs.json", "knn.json", "prdc.json", "prdc_ref.json"]:
    json.load(open(f))
a, b = json.load(open("prdc.json"))["prdc"], json.load(open("prdc_ref.json"))["prdc"]
assert a == b, (a, b)
assert "reference" in json.load(open("out.txt"))
PY
pass=$((pass + 1))

# ---- the container formats (tests/fixtures/formats), when built in ------------------------------
# (tests/cli/test_formats.py checks them against numpy, safetensors and h5py themselves)
for spec in "two.npz:feats" "two.safetensors:feats" "feats.h5:/g/feats"; do
    if "$LSC" spectrum --input "$FIX/$spec" 2>&1 | grep -q "built without"; then
        echo "note: $spec: format not built in"
        continue
    fi
    ok "read $spec" "$LSC" spectrum --input "$FIX/$spec"
done
if ! "$LSC" spectrum --input "$FIX/two.npz:feats" 2>&1 | grep -q "built without"; then
    cp "$FIX/two.npz" "a:b.npz"
    ok "a path holding ':'" "$LSC" pairs --input "a:b.npz:feats"
    bad "npz without a name" 2 "$LSC" spectrum --input "$FIX/two.npz"
    has "npz lists its arrays" err.txt "2 arrays ('feats', 'labels')"
    bad "zip bomb" 2 env LSC_MAX_INFLATE=1M "$LSC" spectrum --input "$FIX/bad_bomb.npz"
    ok "knn to one npz" "$LSC" knn --queries "$FIX/two.npz:feats" --k 2 --out-dist kn.npz --out-idx kn.npz
    ok "knn's npz reads back" "$LSC" spectrum --input kn.npz:dist
fi
bad "pytorch file" 2 "$LSC" spectrum --input model.pt
has "pytorch: the conversion" err.txt "numpy.save('model.npy', torch.load('model.pt'"

# ---- bad input: exit 2, one line on stderr -------------------------------------------------------
for f in trunc short garbage notnpy int one_d three_d zero_rows empty; do
    bad "bad file $f" 2 "$LSC" report --real $f.npy
done
bad "missing file" 2 "$LSC" report --real no_such_file.npy
bad "missing fake file" 2 "$LSC" report --real real.npy --fake no_such_file.npy
bad "nan" 2 "$LSC" report --real real.npy --fake nan.npy
has "nan names row and col" err.txt "row 3 col 2"
bad "nan in a subsetted set" 2 "$LSC" report --real nan.npy --fake small.npy --k 2
has "nan row of the file, not of the subset" err.txt "row 3 col 2"
bad "inf" 2 "$LSC" spectrum --input inf.npy
has "inf names row and col" err.txt "row 7 col 5"
bad "mismatched D" 2 "$LSC" report --real real.npy --fake d6.npy
bad "mismatched D prdc" 2 "$LSC" prdc --real real.npy --fake d6.npy
bad "mismatched D reference" 2 "$LSC" prdc --reference ref.lscref --fake d6.npy
bad "mismatched D knn" 2 "$LSC" knn --queries real.npy --base d6.npy --k 2
bad "k too large report" 2 "$LSC" report --real real.npy --fake small.npy --k 5
bad "k too large knn" 2 "$LSC" knn --queries real.npy --k 300
bad "k zero" 2 "$LSC" knn --queries real.npy --k 0
bad "k non-numeric" 2 "$LSC" report --real real.npy --fake fake.npy --k five
bad "k missing value" 2 "$LSC" prdc --real real.npy --fake fake.npy --k
bad "k vs reference" 2 "$LSC" prdc --reference ref.lscref --fake fake.npy --k 3
bad "unknown option" 2 "$LSC" report --real real.npy --frobnicate
bad "unknown backend" 2 "$LSC" report --real real.npy --backend tpu
bad "unknown metric" 2 "$LSC" report --real real.npy --metric manhattan
bad "unknown command" 2 "$LSC" frobnicate
bad "no command" 2 "$LSC"
bad "no reference subcommand" 2 "$LSC" reference
bad "unknown reference subcommand" 2 "$LSC" reference frob
bad "bad number" 2 "$LSC" report --real real.npy --dup-eps abc
bad "missing --real" 2 "$LSC" report --fake fake.npy
bad "both real and reference" 2 "$LSC" prdc --real real.npy --reference ref.lscref --fake fake.npy
bad "bad reference file" 2 "$LSC" reference inspect real.npy
bad "missing reference" 2 "$LSC" reference inspect no_such.lscref
bad "knn without k" 2 "$LSC" knn --queries real.npy
bad "spectrum one row" 2 "$LSC" report --real zero_rows.npy

# ---- report --reference: the figures and verdicts of --real, k / metric / comparison from the file --
ok "reference build cosine" "$LSC" reference build --real real.npy --k 3 --metric cosine --inclusive \
    --out ref_cos.lscref
ok "reference build float64" "$LSC" reference build --real real64.npy --k 5 --out ref64.lscref
ok "report --real" "$LSC" report --real real.npy --fake fake.npy --seed 7 --json rep_real.json
cp out.txt rep_real.txt
ok "report --reference" "$LSC" report --reference ref.lscref --fake fake.npy --seed 7 --json rep_ref.json
cp out.txt rep_ref.txt
has "report --reference names the file" rep_ref.txt "real: reference ref.lscref (file format version 2;"
ok "report --real cosine" "$LSC" report --real real.npy --fake fake.npy --k 3 --metric cosine --inclusive \
    --seed 7 --json rep_real_cos.json
ok "report --reference cosine" "$LSC" report --reference ref_cos.lscref --fake fake.npy --seed 7 \
    --json rep_ref_cos.json
ok "report --reference, options that agree" "$LSC" report --reference ref_cos.lscref --fake fake.npy \
    --k 3 --metric cosine --inclusive --seed 7 --json rep_ref_cos_agree.json
ok "report --real float64" "$LSC" report --real real64.npy --fake fake16.npy --json rep_real64.json
ok "report --reference from float64" "$LSC" report --reference ref64.lscref --fake fake16.npy \
    --json rep_ref64.json
ok "report --reference json -" "$LSC" report --reference ref.lscref --fake fake.npy --json -
if python3 -c "import json; json.load(open('out.txt'))"; then pass=$((pass + 1)); else
    echo "FAIL: report --reference --json - is not JSON"; fails=$((fails + 1)); fi
# the text's verdicts and readings too (all but the timing after the readings)
for f in rep_real rep_ref; do
    sed -n '/^verdict: /,/^(each check/p' $f.txt > $f.verdicts.txt
    sed -n '/^readings:/,/^$/p' $f.txt > $f.readings.txt
done
if [ -s rep_ref.verdicts.txt ] && cmp -s rep_real.verdicts.txt rep_ref.verdicts.txt &&
   [ -s rep_ref.readings.txt ] && cmp -s rep_real.readings.txt rep_ref.readings.txt; then
    pass=$((pass + 1))
else
    echo "FAIL: report --reference prints other verdicts or readings than --real"
    diff rep_real.verdicts.txt rep_ref.verdicts.txt | head -5
    diff rep_real.readings.txt rep_ref.readings.txt | head -5
    fails=$((fails + 1))
fi
python3 - <<'PY' || { echo "FAIL: report --reference against --real"; fails=$((fails + 1)); }
import json
def same(real_json, ref_json, ref_path, rows, k, metric, comparison):
    a, b = json.load(open(real_json)), json.load(open(ref_json))
    tag = ref_json
    for key in ["verdict", "not_assessed", "verdicts", "prdc", "readings"]:
        assert a[key] == b[key], (tag, key, a[key], b[key])
    assert len(a["verdicts"]) == 6, tag
    for key in ["k", "metric", "comparison", "seed", "splits", "spectrum_rows"]:
        assert a["params"][key] == b["params"][key], (tag, key)
    assert (b["params"]["k"], b["params"]["metric"], b["params"]["comparison"]) == (k, metric, comparison), tag
    assert b["inputs"]["real"] == {"reference": ref_path, "file_version": 2, "rows": rows, "cols": 8,
                                   "dtype": "float32"}, (tag, b["inputs"]["real"])
    assert a["inputs"]["fake"] == b["inputs"]["fake"], tag
    for sec in ["spectrum", "pairwise"]:
        assert a[sec]["fake"] == b[sec]["fake"], (tag, sec)
        # the real set's figures come from the reference's own float32 rows
        assert a[sec]["real"] == b[sec]["real"], (tag, sec)
    ma, mb = a["memorisation"], b["memorisation"]
    assert ma == mb, (tag, ma, mb)
    assert a["readings_fixed_thresholds"] == b["readings_fixed_thresholds"], tag
    assert "reference_load" in b["timings_ms"], tag
same("rep_real.json", "rep_ref.json", "ref.lscref", 300, 5, "euclidean", "strict")
same("rep_real_cos.json", "rep_ref_cos.json", "ref_cos.lscref", 300, 3, "cosine", "inclusive")
same("rep_real_cos.json", "rep_ref_cos_agree.json", "ref_cos.lscref", 300, 3, "cosine", "inclusive")
same("rep_real64.json", "rep_ref64.json", "ref64.lscref", 300, 5, "euclidean", "strict")
PY
pass=$((pass + 1))

# exactly one of --real and --reference; --k / --metric / --inclusive must agree with the file's
bad "report both real and reference" 2 "$LSC" report --real real.npy --reference ref.lscref --fake fake.npy
has "report both: says so" err.txt "exactly one of --real and --reference"
bad "report neither real nor reference" 2 "$LSC" report --fake fake.npy
# a reference alone reports its own rows, as --real alone does
ok "report reference alone" "$LSC" report --reference ref.lscref --json rep_ref_alone.json
ok "report real alone" "$LSC" report --real real.npy --json rep_real_alone.json
python3 -c '
import json, sys
a, b = json.load(open("rep_real_alone.json")), json.load(open("rep_ref_alone.json"))
assert a["spectrum"]["real"] == b["spectrum"]["real"] and a["pairwise"]["real"] == b["pairwise"]["real"]
' || { echo "FAIL: report --reference alone differs from --real alone"; fails=$((fails + 1)); }
bad "report --k vs reference" 2 "$LSC" report --reference ref.lscref --fake fake.npy --k 3
has "report --k vs reference: both values" err.txt "--k 3 differs from the k=5 of ref.lscref"
bad "report --metric vs reference" 2 "$LSC" report --reference ref.lscref --fake fake.npy --metric cosine
has "report --metric vs reference: both values" err.txt \
    "--metric cosine differs from the metric euclidean of ref.lscref"
bad "prdc --metric vs reference" 2 "$LSC" prdc --reference ref.lscref --fake fake.npy --metric cosine
has "prdc --metric vs reference: both values" err.txt "--metric cosine differs from the metric euclidean of ref.lscref"
bad "prdc --inclusive vs reference" 2 "$LSC" prdc --reference ref.lscref --fake fake.npy --inclusive
bad "report --metric vs cosine reference" 2 "$LSC" report --reference ref_cos.lscref --fake fake.npy \
    --metric euclidean
has "report --metric vs cosine reference: both values" err.txt \
    "--metric euclidean differs from the metric cosine of ref_cos.lscref"
bad "report --inclusive vs reference" 2 "$LSC" report --reference ref.lscref --fake fake.npy --inclusive
has "report --inclusive vs reference: both values" err.txt \
    "--inclusive (comparison inclusive, d <= r) differs from the comparison strict (d < r) of ref.lscref"
bad "report reference: mismatched D" 2 "$LSC" report --reference ref.lscref --fake d6.npy
bad "report reference: k vs fake rows" 2 "$LSC" report --reference ref.lscref --fake small.npy
# a reference file that is missing, damaged, cut short, of an unknown version, or no reference
python3 - <<'PY' || { echo "FAIL: could not write the damaged references"; fails=$((fails + 1)); }
b = open("ref.lscref", "rb").read()
c = bytearray(b)
c[192 + 17] ^= 0x40                  # a bit of a row (ROWS is at 192): its section checksum fails
open("corrupt.lscref", "wb").write(c)
open("cut.lscref", "wb").write(b[:-100])
v = bytearray(b)
v[8] = 9                             # a format version this lsc does not know
open("future.lscref", "wb").write(v)
PY
bad "report missing reference" 2 "$LSC" report --reference no_such.lscref --fake fake.npy
has "report missing reference: names it" err.txt "no_such.lscref"
for f in corrupt cut future; do
    bad "report $f reference" 2 "$LSC" report --reference $f.lscref --fake fake.npy
    has "report $f reference: names it" err.txt "$f.lscref"
done
bad "report npy as reference" 2 "$LSC" report --reference real.npy --fake fake.npy

# ---- the readings: made from the verdicts --------------------------------------------------------
ok "report collapsed (2 of 8 modes)" "$LSC" report --real modes_real.npy --fake modes_two.npy \
    --json collapsed.json
cp out.txt collapsed.txt
ok "report healthy (8 of 8 modes)" "$LSC" report --real modes_real.npy --fake modes_all.npy \
    --json healthy.json
cp out.txt healthy.txt
python3 - <<'PY' || { echo "FAIL: readings from the verdicts"; fails=$((fails + 1)); }
import json
def text_readings(path):
    lines = open(path).read().split("\n")
    out = []
    for l in lines[lines.index("readings:") + 1:]:
        if not l.startswith("  "):
            break
        out.append(l[2:])
    return out
def expected(r):  # docs/METRICS.md section 6: one per check at borderline or collapse, in check order
    out = ["%s (%s): %s" % (c, v["level"], v["why"]) for c, v in r["verdicts"].items()
           if v["level"] in ("borderline", "collapse")]
    if not out:
        na = r["not_assessed"]
        out = ["no collapse detected" + (" (not assessed: %s)" % ", ".join(na) if na else "")]
    return out
c = json.load(open("collapsed.json"))
assert c["verdict"] == "collapse" and c["verdicts"]["mode_collapse"]["level"] == "collapse", c["verdict"]
assert c["readings"] == expected(c), c["readings"]
assert any(x.startswith("mode_collapse (collapse): coverage ") for x in c["readings"]), c["readings"]
assert not any(x.startswith("no collapse") for x in c["readings"]), c["readings"]
assert text_readings("collapsed.txt") == c["readings"], text_readings("collapsed.txt")
# the deprecated fixed-threshold readings are still there, apart
fx = c["readings_fixed_thresholds"]
assert any(x.startswith("mode collapse: ") for x in fx), fx
h = json.load(open("healthy.json"))
assert h["verdict"] == "ok", h["verdict"]
assert h["readings"] == expected(h) and len(h["readings"]) == 1, h["readings"]
assert h["readings"][0].startswith("no collapse detected"), h["readings"]
for na in h["not_assessed"]:
    assert na in h["readings"][0], (na, h["readings"])
assert text_readings("healthy.txt") == h["readings"], text_readings("healthy.txt")
PY
pass=$((pass + 1))

# labels: the six missing modes are named, the two produced ones are not; the uncovered rows are
# listed; bad label files are refused before any work
for own in "" "--fake-labels modes_two_labels.npy"; do
    # shellcheck disable=SC2086
    ok "report --labels $own" "$LSC" report --real modes_real.npy --fake modes_two.npy \
        --labels modes_real_labels.npy $own --json labels.json
    has "report --labels $own: classes flagged" out.txt "classes flagged (of 8):"
    has "report --labels $own: uncovered rows" out.txt "uncovered real rows: "
    python3 - <<'PY' || { echo "FAIL: report --labels JSON"; fails=$((fails + 1)); }
import json
r = json.load(open("labels.json"))
cls = {c["label"]: c for c in r["classes"]}
assert sorted(cls) == list(range(8)), sorted(cls)
assert all(cls[c]["missing"]["level"] == "collapse" for c in range(2, 8)), r["classes"]
assert all(cls[c]["missing"]["level"] != "collapse" for c in (0, 1)), r["classes"]
assert all(cls[c]["real_rows"] == 150 for c in range(8))
assert r["uncovered"] >= 6 * 100 and len(r["uncovered_rows"]) == 100, r["uncovered"]
assert all(i % 8 >= 2 for i in r["uncovered_rows"][:20]), r["uncovered_rows"][:20]
assert r["verdicts"]["mode_collapse"]["level"] == "collapse"
PY
    pass=$((pass + 1))
done
bad "report --labels of another length" 2 "$LSC" report --real modes_real.npy --fake modes_two.npy \
    --labels modes_two_labels.npy
has "report --labels length: says so" err.txt "holds 300 labels but the real set has 1200 rows"
bad "report --labels float" 2 "$LSC" report --real modes_real.npy --fake modes_two.npy --labels real.npy
has "report --labels float: says so" err.txt "labels must be integers"
bad "report --labels 2-D" 2 "$LSC" report --real real.npy --fake fake.npy --labels int.npy
has "report --labels 2-D: says so" err.txt "1-D"
bad "report --fake-labels alone" 2 "$LSC" report --real modes_real.npy --fake modes_two.npy \
    --fake-labels modes_two_labels.npy
bad "report --fake-labels of another length" 2 "$LSC" report --real modes_real.npy \
    --fake modes_two.npy --labels modes_real_labels.npy --fake-labels modes_real_labels.npy
bad "report --labels missing file" 2 "$LSC" report --real modes_real.npy --fake modes_two.npy \
    --labels no_such_labels.npy

# ---- the demo ------------------------------------------------------------------------------------
ok "demo" "$LSC" demo
cp out.txt demo.txt
python3 - <<'PY' || { echo "FAIL: demo checks"; sed 's/^/    /' demo.txt; fails=$((fails + 1)); }
rows = {}
for line in open("demo.txt"):
    for name in ["healthy generator", "mode-collapsed", "dimension-collapsed", "mode sweep t=", "dim sweep  t="]:
        if line.startswith(name):
            key = line[:31].strip()
            f = line[31:].split(None, 6)
            rows[key] = ([float(x) for x in f[:6]], f[6].strip())
healthy = rows["healthy generator"]
assert healthy[1] == "ok", healthy
assert rows["mode sweep t=0.00"][1] == "ok" and rows["dim sweep  t=0.00"][1] == "ok", rows
mc = rows["mode-collapsed (2 of 10 modes)"][1]
assert mc.startswith("collapse: ") and "mode_collapse" in mc and "dimensional_collapse" not in mc, mc
assert "dimensional_collapse" in rows["dimension-collapsed (3 dirs)"][1]
# the partial collapses the fixed thresholds missed: 8 of 10 modes, a quarter of the squeeze
assert "mode_collapse" in rows["mode sweep t=0.25"][1], rows["mode sweep t=0.25"]
assert rows["dim sweep  t=0.25"][1].startswith("collapse"), rows["dim sweep  t=0.25"]
ms = [rows[k][0] for k in sorted(rows) if k.startswith("mode sweep")]
ds = [rows[k][0] for k in sorted(rows) if k.startswith("dim sweep")]
assert len(ms) == 5 and len(ds) == 5
def down(xs): return all(a >= b for a, b in zip(xs, xs[1:]))
for col in (1, 3, 5):      # vendi, recall, coverage fall as modes are dropped
    assert down([r[col] for r in ms]), ("mode sweep", col, ms)
for col in (0, 1, 3, 5):   # effective rank, vendi, recall, coverage fall as dimensions are squeezed
    assert down([r[col] for r in ds]), ("dim sweep", col, ds)
# (precision and density may first rise there: the squeezed samples move towards dense regions)
PY
pass=$((pass + 1))

# ---- outputs checked before any work; written whole or not at all ---------------------------------
# (an unusable output is named even when an input would fail later: nothing is read before)
bad "report --json in a missing directory" 2 "$LSC" report --real nan.npy --fake fake.npy --json nodir/r.json
has "the output named" err.txt "nodir/r.json: cannot create"
bad "knn --out-idx in a missing directory" 2 "$LSC" knn --queries nan.npy --k 3 --out-idx nodir/i.npy
bad "knn --out-idx .fvecs" 2 "$LSC" knn --queries real.npy --k 3 --out-idx i.fvecs
has "the .fvecs refusal says why" err.txt "only .npy and .npz"
bad "knn --out-dist .fvecs" 2 "$LSC" knn --queries real.npy --k 3 --out-dist d.fvecs
bad "one path for two outputs" 2 "$LSC" knn --queries real.npy --k 3 --out-dist same.npy --out-idx ./same.npy
has "the clash named" err.txt "both name"
cp real.npy keep.npy
bad "an output over an input" 2 "$LSC" report --real keep.npy --json keep.npy
if cmp -s real.npy keep.npy; then pass=$((pass + 1)); else echo "FAIL: the input was overwritten"; fails=$((fails + 1)); fi
bad "--json a directory" 2 "$LSC" spectrum --input real.npy --json .
bad "--progress unknown" 2 "$LSC" spectrum --input real.npy --progress sometimes
bad "a failed report leaves no JSON" 2 "$LSC" report --real real.npy --fake nan.npy --json partial.json
if [ ! -e partial.json ] && ! ls | grep -q '\.tmp-'; then pass=$((pass + 1)); else
    echo "FAIL: a partial or temporary file was left:"; ls; fails=$((fails + 1)); fi
# files are created like any other: 0666 less the umask (the reference too, written by the library)
(umask 022 && "$LSC" reference build --real real.npy --out mode644.lscref --json mode644.json > /dev/null)
(umask 027 && "$LSC" reference build --real real.npy --out mode640.lscref > /dev/null)
modes=$(stat -c '%a' mode644.lscref mode644.json mode640.lscref | tr '\n' ' ')
if [ "$modes" = "644 644 640 " ]; then pass=$((pass + 1)); else echo "FAIL: modes $modes, want 644 644 640"; fails=$((fails + 1)); fi
has "reference build: k defaults to 5" mode644.json '"k": 5'
# no option a command would ignore
"$LSC" spectrum --help > spectrum_help.txt
if grep -qE -- '--metric|--seed' spectrum_help.txt; then echo "FAIL: spectrum --help lists an option it ignores"; fails=$((fails + 1)); else pass=$((pass + 1)); fi
bad "spectrum --metric" 2 "$LSC" spectrum --input real.npy --metric cosine
bad "spectrum --seed" 2 "$LSC" spectrum --input real.npy --seed 3
bad "prdc --reference, --metric disagreeing" 2 "$LSC" prdc --reference ref.lscref --fake fake.npy --metric cosine
has "the reference's metric named" err.txt "euclidean"
# a path that is not UTF-8 still gives valid UTF-8 JSON, the byte escaped
cp real.npy "$(printf 'odd\377name.npy')"
"$LSC" spectrum --input "$(printf 'odd\377name.npy')" --json - > odd.json 2> err.txt
if python3 -c "
import json; raw = open('odd.json', 'rb').read(); doc = json.loads(raw.decode('utf-8'))
assert doc['inputs']['input']['path'] == 'odd\u00ffname.npy', doc['inputs']['input']['path']
"; then pass=$((pass + 1)); else echo "FAIL: JSON of a non-UTF-8 path"; fails=$((fails + 1)); fi

# ---- progress: on a non-terminal a line at most every interval (10 s; shortened here) ---------
LSC_PROGRESS_INTERVAL_MS=0 "$LSC" report --real real.npy --fake fake.npy > /dev/null 2> prog.txt
if grep -qE '^lsc: .* [0-9]+% after [0-9]+ s(, about .* left)?$' prog.txt && grep -q 'left$' prog.txt &&
   ! grep -qv '^lsc: ' prog.txt; then pass=$((pass + 1)); else
    echo "FAIL: progress lines when not a terminal:"; head -3 prog.txt; fails=$((fails + 1)); fi
LSC_PROGRESS_INTERVAL_MS=0 "$LSC" report --real real.npy --fake fake.npy --progress never > /dev/null 2> prog.txt
if [ ! -s prog.txt ]; then pass=$((pass + 1)); else echo "FAIL: --progress never printed"; fails=$((fails + 1)); fi
"$LSC" report --real real.npy --fake fake.npy > /dev/null 2> prog.txt
if [ ! -s prog.txt ]; then pass=$((pass + 1)); else echo "FAIL: a short run printed progress"; fails=$((fails + 1)); fi
"$LSC" spectrum --input real.npy --progress always > /dev/null 2> prog.txt
if grep -qE '^lsc: spectrum [0-9]+% after' prog.txt; then pass=$((pass + 1)); else
    echo "FAIL: --progress always printed no line"; fails=$((fails + 1)); fi

# ---- pairs draws its histogram -------------------------------------------------------------------
ok "pairs histogram" "$LSC" pairs --input real.npy --bins 8
has "pairs shows the histogram" out.txt "histogram of the distances (8 bins"
if [ "$(grep -c ' |#' out.txt)" -ge 4 ]; then pass=$((pass + 1)); else echo "FAIL: no histogram bars"; fails=$((fails + 1)); fi

echo "cli: $pass passed, $fails failed"
[ "$fails" -eq 0 ]
