# The commands users type. CMake does the building; this file only sequences it.
#   make          build (build/)
#   make test     install what is missing, build plain and sanitizer builds, run every suite
#   make demo     the walking skeleton, for a person
#   make fuzz     every libFuzzer harness for FUZZ_SECONDS (60) each (FUZZ=<name> for one)
#   make format   clang-format every C file;  make lint: check formatting and warnings
BUILD     ?= build
BUILD_SAN ?= build-san
JOBS      ?= $(shell nproc)
CMAKE_GEN := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
C_FILES    = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

.PHONY: all build build-san deps test demo fuzz format lint clean

all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo
$(BUILD_SAN)/CMakeCache.txt:
	cmake -S . -B $(BUILD_SAN) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DCKEDA_SANITIZE=ON

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
build-san: $(BUILD_SAN)/CMakeCache.txt
	cmake --build $(BUILD_SAN) -j $(JOBS)

deps:
	scripts/install-deps.sh

test: deps
	scripts/run-tests.sh

demo: deps build
	scripts/demo.sh $(DEMO_FLAGS)

fuzz: deps
	scripts/fuzz.sh

format:
	clang-format -i $(C_FILES)

lint:
	clang-format --dry-run --Werror $(C_FILES)

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
