# The two commands a newcomer runs (README.md): `make run` and `make test`.
# Both install the Debian packages they need (scripts/install-deps.sh, idempotent), configure and build.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: deps configure build run test bench fuzz clean format

deps:
	./scripts/install-deps.sh

configure: deps
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The demo: `medtwin serve --demo`, a ward of virtual patients streaming into the server with
# twins following them (Ctrl-C stops). scripts/demo.sh is the command-line tour.
run: build
	$(BUILD)/medtwin serve --demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	./scripts/fuzz.sh

bench: build
	./bench/run_benchmarks.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-fuzz

format:
	clang-format -i $$(git ls-files '*.cc' '*.h' '*.c')
