#!/usr/bin/env bash
# Fuzzes the NONMEM dataset reader (fuzz/dataset_fuzz.cc) with libFuzzer under ASan and UBSan.
#
# Builds with clang into build-fuzz (the whole medtwin_core library is instrumented for coverage
# and sanitizers, so the fuzzer sees inside the parser), writes a seed corpus of valid datasets
# into build-fuzz/corpus, and runs for a bounded time. Exits non-zero if the fuzzer finds a
# crash, a sanitizer report, a trap (broken invariant), a timeout or a memory blow-up; the
# reproducer is left in build-fuzz/ (crash-*, timeout-*, oom-*).
#
# Also fuzzes the SBML importer (fuzz/sbml_fuzz.cc), seeded with a few SBML Test Suite models from
# ../shared/data (copied into the build folder, not the repository) and examples/pk2cmt.xml.
#
# And the FHIR layer (fuzz/fhir_fuzz.cc: resources and bundles), seeded with small resources and
# bundles written here and single lines of the Synthea NDJSON files (copied into the build folder).
#
# Environment: FUZZ_BUILD (default build-fuzz), FUZZ_SECONDS (default 60, dataset reader),
# FUZZ_SBML_SECONDS (default 30), FUZZ_FHIR_SECONDS (default 30), FUZZ_JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${FUZZ_BUILD:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-$(nproc)}
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fsanitize=fuzzer-no-link"

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DMEDTWIN_FUZZ=ON -DMEDTWIN_BUILD_TESTS=OFF \
  -DMEDTWIN_BUILD_BENCH=OFF -DMEDTWIN_BUILD_APPS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" >/dev/null
cmake --build "$build" --target dataset_fuzz sbml_fuzz fhir_fuzz -j "$jobs"

# Seeds: small valid datasets covering the column kinds the reader knows.
corpus="$build/corpus"
mkdir -p "$corpus"
cat >"$corpus/seed-bolus.csv" <<'EOF'
ID,TIME,AMT,EVID,CMT,RATE,II,ADDL,SS,MDV,DV,WT
1,0,100,1,1,0,12,3,0,1,.,70
1,1,0,0,2,0,0,0,0,0,5.5,70
1,2,0,0,2,0,0,0,0,1,.,71
2,0,200,1,central,50,0,0,0,1,.,80
2,6,0,0,2,0,0,0,0,0,3.1,80
EOF
cat >"$corpus/seed-nmtests.csv" <<'EOF'
C,ID,time,evid,amt,cmt,ss,ii,addl,rate,LAGT,MODE,DUR2,RAT2,BIOAV,DV
.,1,0,1,100,1,0,24,3,0,0,0,2,10,1,.
.,1,1,0,0,2,0,0,0,0,0,0,2,10,1,.
C,1,2,0,0,2,0,0,0,0,0,0,2,10,1,.
.,2,0,1,100,2,1,24,3,-2,0,2,2,10,1,.
.,2,0,4,100,1,1,12,0,0,0,0,2,10,1,.
.,3,0,1,0,1,1,0,0,100,0,0,2,10,1,.
.,3,50,3,0,2,0,0,0,0,0,0,2,10,1,.
EOF
printf '# comment\r\n\r\n"ID","TIME","AMT","CMT","RATE","F1","ALAG1","R2","D2","ALB"\r\n"a b",0,100,1,0,0.8,0.5,.,.,.\r\n"a b",1,100,2,-1,.,.,25,.,35\r\n"a b",2,100,2,-2,.,.,.,3,40\r\n' \
  >"$corpus/seed-modifiers.csv"
cat >"$corpus/seed-defaults.csv" <<'EOF'
id,time,amt,dv,evid,cmt
1,0,100,.,1,1
1,0.5,0,1.2e1,0,2
1,1,0,.,2,-2
1,2,0,+3,0,central
EOF

dict="$build/dataset.dict"
cat >"$dict" <<'EOF'
"ID"
"TIME"
"AMT"
"EVID"
"CMT"
"RATE"
"II"
"ADDL"
"SS"
"MDV"
"DV"
"WT"
"ALB"
"F1"
"ALAG2"
"R2"
"D2"
"D1"
"central"
"periph"
","
"\""
"\x0d\x0a"
"."
"-1"
"-2"
"1e308"
"nan"
"C,"
"#"
EOF

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
# Leaks inside Debian's libraries, each explained in the file (ours are still reported).
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(cd "$(dirname "$0")/.." && pwd)/fuzz/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "fuzz.sh: running dataset_fuzz for ${seconds}s (corpus $corpus)"
"$build/dataset_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
  -dict="$dict" -artifact_prefix="$build/" -print_final_stats=1 "$corpus"
sbml_seconds=${FUZZ_SBML_SECONDS:-30}
sbml_corpus="$build/sbml-corpus"
mkdir -p "$sbml_corpus"
cp examples/pk2cmt.xml "$sbml_corpus/"
for c in 00001 00026 00074 00105 00960 01111 01500; do
  cp ../shared/data/sbml-test-suite/cases/$c/*.xml "$sbml_corpus/" 2>/dev/null || true
done
echo "fuzz.sh: running sbml_fuzz for ${sbml_seconds}s (corpus $sbml_corpus)"
"$build/sbml_fuzz" -max_total_time="$sbml_seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
  -artifact_prefix="$build/" -print_final_stats=1 "$sbml_corpus"
fhir_seconds=${FUZZ_FHIR_SECONDS:-30}
fhir_corpus="$build/fhir-corpus"
mkdir -p "$fhir_corpus"
cat >"$fhir_corpus/seed-observation.json" <<'EOF'
{"resourceType": "Observation", "id": "o1", "status": "final",
 "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
 "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-03-01T08:00:00+01:00",
 "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
   "valueQuantity": {"value": 120, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
  {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
   "dataAbsentReason": {"text": "cuff slipped"}}]}
EOF
cat >"$fhir_corpus/seed-transaction.json" <<'EOF'
{"resourceType": "Bundle", "type": "transaction", "entry": [
 {"fullUrl": "urn:uuid:11111111-2222-4333-8444-555555555555",
  "resource": {"resourceType": "Patient", "gender": "female", "birthDate": "1950-06-15"},
  "request": {"method": "POST", "url": "Patient"}},
 {"resource": {"resourceType": "MedicationAdministration", "status": "completed",
   "medicationCodeableConcept": {"text": "vancomycin"},
   "subject": {"reference": "urn:uuid:11111111-2222-4333-8444-555555555555"},
   "effectivePeriod": {"start": "2024-03-01T08:00:00Z", "end": "2024-03-01T09:00:00Z"},
   "dosage": {"dose": {"value": 1, "system": "http://unitsofmeasure.org", "code": "g"}}},
  "request": {"method": "POST", "url": "MedicationAdministration"}},
 {"resource": {"resourceType": "Encounter", "status": "finished", "class": {"code": "IMP"},
   "serviceProvider": {"reference": "Organization?identifier=urn:org|7"}},
  "request": {"method": "PUT", "url": "Encounter?identifier=x"}}]}
EOF
cat >"$fhir_corpus/seed-batch.json" <<'EOF'
{"resourceType": "Bundle", "type": "batch", "entry": [
 {"resource": {"resourceType": "Practitioner", "identifier": [{"system": "urn:npi", "value": "9"}]},
  "request": {"method": "POST", "url": "Practitioner", "ifNoneExist": "identifier=urn:npi%7C9"}},
 {"request": {"method": "DELETE", "url": "Patient/p1"}},
 {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
   "subject": {"reference": "Patient/p1"}, "valueQuantity": {"value": 98.6, "unit": "[degF]"}},
  "request": {"method": "POST", "url": "Observation"}}]}
EOF
for t in Patient Condition Encounter; do
  head -n 2 "../shared/data/synthea/ndjson/$t.000.ndjson" | tail -n 1 \
    >"$fhir_corpus/seed-synthea-$t.json"
done
echo "fuzz.sh: running fhir_fuzz for ${fhir_seconds}s (corpus $fhir_corpus)"
"$build/fhir_fuzz" -max_total_time="$fhir_seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
  -artifact_prefix="$build/" -print_final_stats=1 "$fhir_corpus"
echo "fuzz.sh: no crash found"
