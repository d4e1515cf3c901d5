# Test registrations. Unit tests live beside the code (src/<module>/foo_test.cc);
# cross-module tests (conformance, CLI end-to-end) live in tests/.

# --- model library (src/model)

# --- events / dataset reader (src/events)

# --- simulator (src/sim)

# --- cross-module: conformance and CLI
