// FHIR parse throughput over every Synthea bundle in ../shared/data/synthea (bundles/ and hiv/:
// 12 transaction bundles, 2 batch bundles: 8,908 resources in 21,150,981 bytes), and the JSON
// library comparison behind src/fhir's choice (BENCHMARKS.md, "FHIR").
//
// Per iteration every bundle is processed once; counters report resources/s and bytes/s.
//   BM_Parse/<lib>      parse to a DOM only: nlohmann::json, nlohmann::ordered_json, simdjson
//   BM_ParseWalk/<lib>  parse, then visit every value (what a validator minimally does)
//   BM_ParseWalkDump/<lib>  ...and serialise each entry's resource to compact JSON text (what
//                       a store needs); simdjson's DOM is read-only, so references cannot be
//                       rewritten before this step: a lower bound for simdjson
//   BM_ProcessBundle    medtwin's full pipeline: fhir::ProcessBundle (parse, limits, generic
//                       pass, references resolved and rewritten, typed reading, normalisation,
//                       one JSON text per resource), the HIV batch contents preloaded into a
//                       MemoryResolver so the conditional references resolve
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "medtwin/fhir_bundle.h"

#ifdef MEDTWIN_HAVE_SIMDJSON
#include <simdjson.h>
#endif

namespace medtwin::fhir {
namespace {

struct Corpus {
  std::vector<std::string> texts;  // batch bundles first, then patient bundles
  int64_t resources = 0;
  int64_t bytes = 0;
  MemoryResolver resolver;  // the batch bundles' resources, for the conditional references
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const Corpus& Data() {
  static const Corpus* corpus = [] {
    auto* c = new Corpus;
    const std::string dir = std::string(MEDTWIN_SHARED_DATA) + "/synthea/";
    std::vector<std::string> batches, patients;
    for (const char* sub : {"hiv", "bundles"}) {
      for (const auto& e : std::filesystem::directory_iterator(dir + sub)) {
        if (e.path().extension() != ".json") continue;
        const std::string p = e.path().string();
        (p.find("Information") != std::string::npos ? batches : patients).push_back(p);
      }
    }
    std::sort(batches.begin(), batches.end());
    std::sort(patients.begin(), patients.end());
    SequentialIds ids;
    BundleOptions o;
    o.ids = &ids;
    for (const auto& p : batches) c->texts.push_back(Slurp(p));
    for (const auto& text : c->texts) {
      for (const EntryResult& e : ProcessBundle(text, c->resolver, o).entries) {
        if (e.resource) c->resolver.Add(*e.resource);
      }
    }
    for (const auto& p : patients) c->texts.push_back(Slurp(p));
    for (const auto& t : c->texts) {
      c->bytes += static_cast<int64_t>(t.size());
      c->resources += static_cast<int64_t>(nlohmann::json::parse(t)["entry"].size());
    }
    if (c->texts.size() != 14) {
      std::cerr << "fhir_bench: expected 14 bundles under " << dir << ", found " << c->texts.size()
                << "\n";
      std::exit(1);
    }
    return c;
  }();
  return *corpus;
}

void Report(benchmark::State& state, int64_t resources) {
  const Corpus& c = Data();
  state.SetBytesProcessed(state.iterations() * c.bytes);
  state.counters["resources/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * resources), benchmark::Counter::kIsRate);
  state.counters["resources"] = static_cast<double>(resources);
}

// Counts the scalar values of a DOM: every value is visited once.
template <typename J>
int64_t Walk(const J& j) {
  if (j.is_object() || j.is_array()) {
    int64_t n = 0;
    for (const auto& v : j) n += Walk(v);
    return n;
  }
  return 1;
}

template <typename J>
void BM_NlohmannParse(benchmark::State& state) {
  const Corpus& c = Data();
  for (auto _ : state) {
    for (const std::string& t : c.texts) {
      J j = J::parse(t);
      benchmark::DoNotOptimize(j);
    }
  }
  Report(state, c.resources);
}

template <typename J>
void BM_NlohmannParseWalk(benchmark::State& state) {
  const Corpus& c = Data();
  int64_t values = 0;
  for (auto _ : state) {
    for (const std::string& t : c.texts) values += Walk(J::parse(t));
  }
  benchmark::DoNotOptimize(values);
  Report(state, c.resources);
}

template <typename J>
void BM_NlohmannParseWalkDump(benchmark::State& state) {
  const Corpus& c = Data();
  int64_t out_bytes = 0;
  for (auto _ : state) {
    for (const std::string& t : c.texts) {
      J j = J::parse(t);
      benchmark::DoNotOptimize(Walk(j));
      for (const auto& e : j["entry"])
        out_bytes += static_cast<int64_t>(e["resource"].dump().size());
    }
  }
  benchmark::DoNotOptimize(out_bytes);
  Report(state, c.resources);
}

BENCHMARK_TEMPLATE(BM_NlohmannParse, nlohmann::json)
    ->Name("BM_Parse/nlohmann")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_NlohmannParse, nlohmann::ordered_json)
    ->Name("BM_Parse/nlohmann_ordered")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_NlohmannParseWalk, nlohmann::json)
    ->Name("BM_ParseWalk/nlohmann")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_NlohmannParseWalk, nlohmann::ordered_json)
    ->Name("BM_ParseWalk/nlohmann_ordered")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_NlohmannParseWalkDump, nlohmann::json)
    ->Name("BM_ParseWalkDump/nlohmann")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_NlohmannParseWalkDump, nlohmann::ordered_json)
    ->Name("BM_ParseWalkDump/nlohmann_ordered")
    ->Unit(benchmark::kMillisecond);

#ifdef MEDTWIN_HAVE_SIMDJSON
int64_t SimdWalk(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      int64_t n = 0;
      const simdjson::dom::object obj = e.get_object().value_unsafe();  // a copy: no dangling
      for (auto field : obj) n += SimdWalk(field.value);
      return n;
    }
    case simdjson::dom::element_type::ARRAY: {
      int64_t n = 0;
      const simdjson::dom::array arr = e.get_array().value_unsafe();
      for (auto v : arr) n += SimdWalk(v);
      return n;
    }
    default:
      return 1;
  }
}

// The padded copy simdjson needs is made inside the loop: the server receives plain buffers.
void BM_SimdjsonParse(benchmark::State& state) {
  const Corpus& c = Data();
  simdjson::dom::parser parser;
  for (auto _ : state) {
    for (const std::string& t : c.texts) {
      simdjson::dom::element doc;
      if (parser.parse(t).get(doc) != simdjson::SUCCESS) state.SkipWithError("simdjson parse");
      benchmark::DoNotOptimize(doc);
    }
  }
  Report(state, c.resources);
}

void BM_SimdjsonParseWalk(benchmark::State& state) {
  const Corpus& c = Data();
  simdjson::dom::parser parser;
  int64_t values = 0;
  for (auto _ : state) {
    for (const std::string& t : c.texts) {
      simdjson::dom::element doc;
      if (parser.parse(t).get(doc) != simdjson::SUCCESS) state.SkipWithError("simdjson parse");
      values += SimdWalk(doc);
    }
  }
  benchmark::DoNotOptimize(values);
  Report(state, c.resources);
}

void BM_SimdjsonParseWalkDump(benchmark::State& state) {
  const Corpus& c = Data();
  simdjson::dom::parser parser;
  int64_t out_bytes = 0;
  for (auto _ : state) {
    for (const std::string& t : c.texts) {
      simdjson::dom::element doc;
      if (parser.parse(t).get(doc) != simdjson::SUCCESS) state.SkipWithError("simdjson parse");
      benchmark::DoNotOptimize(SimdWalk(doc));
      const simdjson::dom::array entries = doc["entry"].get_array().value_unsafe();
      for (simdjson::dom::element e : entries) {
        const simdjson::dom::element resource = e["resource"].value_unsafe();
        out_bytes += static_cast<int64_t>(simdjson::to_string(resource).size());
      }
    }
  }
  benchmark::DoNotOptimize(out_bytes);
  Report(state, c.resources);
}

BENCHMARK(BM_SimdjsonParse)->Name("BM_Parse/simdjson")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SimdjsonParseWalk)->Name("BM_ParseWalk/simdjson")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SimdjsonParseWalkDump)
    ->Name("BM_ParseWalkDump/simdjson")
    ->Unit(benchmark::kMillisecond);
#endif

void BM_ProcessBundle(benchmark::State& state) {
  const Corpus& c = Data();
  SequentialIds ids;
  BundleOptions o;
  o.ids = &ids;
  int64_t accepted = 0, rejected = 0;
  for (auto _ : state) {
    for (const std::string& t : c.texts) {
      BundleResult r = ProcessBundle(t, c.resolver, o);
      accepted += r.summary.accepted;
      rejected += r.summary.rejected;
    }
  }
  if (rejected != 0) state.SkipWithError("a Synthea entry was rejected");
  state.counters["accepted_per_pass"] =
      static_cast<double>(accepted) / static_cast<double>(state.iterations());
  Report(state, c.resources);
}
BENCHMARK(BM_ProcessBundle)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace medtwin::fhir

BENCHMARK_MAIN();
