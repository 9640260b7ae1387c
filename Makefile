# Developer entry points (DuckDB style). Every target first installs missing packages (scripts/bootstrap,
# silent when nothing is missing).
#   make / make build   configure build/ (Release, once) and build everything; binaries in build/bin
#   make run            build, then scripts/run-server (local Postgres + centaur-api-server on :8080)
#   make test           build, then scripts/run-tests (local Postgres + ctest); ARGS="-R name" filters
#   make bench-kafka    build, then the Kafka append benchmark on the local broker (scripts/ensure-kafka);
#                       ARGS="--events 500000" passes flags; not a test
#   make bench          build, then bench/run-bench: every headline figure against a same-run baseline, report
#                       in bench/results/<stamp>.{json,md,png}; ARGS="--only ingest,replay" picks scenarios
#   make bench-quick    the same at small sizes (under 3 minutes)
#   make fuzz           clang libFuzzer targets (fuzz/, ASan + UBSan) in build-fuzz/, each run FUZZ_SECONDS (30) on
#                       its corpus in fuzz/corpus/; installs clang first (bootstrap --fuzz); not part of make test
#   make clean          remove build/
#   make format         clang-format -i over our C++ sources (when clang-format is installed)

BUILD_DIR ?= build
NPROC := $(shell nproc 2>/dev/null || echo 2)
ARGS ?=
# cmake's inner make must not inherit this make's -j/jobserver flags; it gets its own -j.
CMAKE := env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL cmake

# Targets run one at a time (`make -j clean test` must not race); the build itself is parallel inside
# cmake, and a lock on the build dir serialises concurrent `make` invocations.
.NOTPARALLEL:
.PHONY: all build release bootstrap run test bench-kafka bench bench-quick fuzz sanitize clean format

all: build

release: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@mkdir -p $(BUILD_DIR)
	@flock $(BUILD_DIR)/.make.lock sh -c '\
	  if [ ! -f $(BUILD_DIR)/CMakeCache.txt ]; then \
	    $(CMAKE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1; \
	  fi; \
	  $(CMAKE) --build $(BUILD_DIR) -j$(NPROC)'

run: build
	@CENTAUR_BUILD_DIR=$(BUILD_DIR) scripts/run-server $(ARGS)

test: build
	@CENTAUR_BUILD_DIR=$(BUILD_DIR) scripts/run-tests $(ARGS)

bench-kafka: build
	@brokers=$$(scripts/ensure-kafka) && $(BUILD_DIR)/bin/centaur-bench-kafka-append --brokers "$$brokers" $(ARGS)

bench: build
	@CENTAUR_BUILD_DIR=$(BUILD_DIR) bench/run-bench $(ARGS)

bench-quick: build
	@CENTAUR_BUILD_DIR=$(BUILD_DIR) bench/run-bench --quick $(ARGS)

fuzz:
	@scripts/bootstrap --fuzz
	@scripts/run-fuzz

sanitize: bootstrap
	@CENTAUR_BUILD_DIR=$(BUILD_DIR) scripts/run-sanitize $(ARGS)

clean: bootstrap
	rm -rf $(BUILD_DIR)

format: bootstrap
	@if command -v clang-format >/dev/null; then \
	  git ls-files -co --exclude-standard -- '*.cpp' '*.hpp' '*.h' | xargs -r clang-format -i; \
	else \
	  echo "make format: clang-format is not installed (apt-get install clang-format); nothing done" >&2; \
	fi
