// libFuzzer target for the FHIR layer (scripts/fuzz.sh builds and runs it).
//
// Any byte string is read as a resource and processed as a bundle. Guarantees checked (a trap
// otherwise): a resource is accepted exactly when its OperationOutcome has no error, and a
// rejection has at least one error; an accepted resource's stored JSON reads back as an accepted
// resource of the same type and id; a bundle's counts reconcile (accepted + rejected = entries =
// results) and every entry has an outcome.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "medtwin/fhir.h"
#include "medtwin/fhir_bundle.h"

namespace {

using namespace medtwin::fhir;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void CheckResource(const ResourceOutcome& r) {
  Check(r.accepted() == !r.outcome.HasErrors());
  if (!r.accepted()) return;
  ResourceOutcome again = ReadResource(r.resource->json);
  Check(again.accepted());
  Check(again.resource->type == r.resource->type && again.resource->id == r.resource->id);
}

const MemoryResolver& Resolver() {
  static const MemoryResolver* m = [] {
    auto* r = new MemoryResolver;
    r->Add("Patient", "p1", {{"urn:mrn", "1"}});
    r->Add("Organization", "o1", {{"urn:org", "7"}});
    r->Add("Organization", "o2", {{"urn:org", "7"}});
    return r;
  }();
  return *m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ReadOptions small;
  small.max_bytes = 1 << 16;
  small.max_depth = 32;
  CheckResource(ReadResource(text, small));

  SequentialIds ids;
  BundleOptions o;
  o.ids = &ids;
  o.read = small;
  const BundleResult b = ProcessBundle(text, Resolver(), o);
  Check(b.summary.accepted + b.summary.rejected == b.summary.entries);
  Check(static_cast<int>(b.entries.size()) == b.summary.entries);
  for (const EntryResult& e : b.entries) {
    Check(!e.outcome.empty());
    Check(e.accepted == !e.outcome.HasErrors());  // rolled-back entries carry a processing error
    if (e.accepted && e.resource) {
      ResourceOutcome again = ReadResource(e.resource->json);
      Check(again.accepted());
    }
  }
  if (!b.ok && b.entries.empty()) Check(b.outcome.HasErrors());
  return 0;
}
