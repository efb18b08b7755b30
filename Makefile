# meshpol build. `make` builds bin/meshpol and libmeshpol.a; see README.md for the other targets.
CC      ?= cc
PKGS    := lua5.4 yaml-0.1 jansson libevent libevent_openssl libevent_pthreads openssl re2 zlib
CXX     ?= c++
OPT     ?= -O2 -g
CFLAGS  := $(OPT) -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
           -MMD -MP -Iengine/include $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# The engine sees its private headers (engine/) too, and exports only what engine/include/
# declares: its headers say `visibility push(default)`, everything else is hidden.
ENGINE_CFLAGS := $(CFLAGS) -Iengine -fvisibility=hidden
# The engine's one C++ file (engine/regex.cc: RE2 behind a C interface), with the same rules.
ENGINE_CXXFLAGS := $(OPT) -std=c++17 -Wall -Wextra -Werror -MMD -MP -Iengine -Iengine/include \
           -fvisibility=hidden -fvisibility-inlines-hidden $(shell pkg-config --cflags re2 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lstdc++ -lreadline -lpthread -lm
BUILD   ?= build
BIN     ?= bin

# The engine, and one folder per mesh provider (docs/architecture.md, "Mesh providers").
ENGINE_SRC := $(sort $(wildcard engine/*.c engine/providers/*/*.c))
ENGINE_CXX := $(sort $(wildcard engine/*.cc))
FRONT_SRC  := $(sort $(wildcard cli/*.c repl/*.c server/*.c))
TEST_SRC   := $(sort $(wildcard tests/unit/test_*.c))

ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o) $(ENGINE_CXX:%.cc=$(BUILD)/%.o)
FRONT_OBJ  := $(FRONT_SRC:%.c=$(BUILD)/%.o)
TEST_BIN   := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
LIB        := $(BUILD)/libmeshpol.a
LIB_INT    := $(BUILD)/libmeshpol_int.a

# What `make install` puts under PREFIX (DESTDIR before it, for packagers): the program, the Lua
# stdlib where the program looks for it (PREFIX/share/meshpol/stdlib: engine/policy.c), and the
# man page and completion scripts, which the program writes from its own verb and option tables.
PREFIX  ?= /usr/local
DESTDIR ?=
GEN     := $(BUILD)/share
GENERATED := $(GEN)/meshpol.1 $(GEN)/meshpol.bash $(GEN)/_meshpol

.PHONY: all deps test check demo bench clean format unit e2e policy-test install uninstall
all: $(BIN)/meshpol $(BIN)/libmeshpol.a $(LIB_INT) $(GENERATED)

$(GEN)/meshpol.1: $(BIN)/meshpol
	@mkdir -p $(dir $@)
	$(BIN)/meshpol help --man >$@.tmp && mv $@.tmp $@

$(GEN)/meshpol.bash: $(BIN)/meshpol
	@mkdir -p $(dir $@)
	$(BIN)/meshpol help --completion bash >$@.tmp && mv $@.tmp $@

$(GEN)/_meshpol: $(BIN)/meshpol
	@mkdir -p $(dir $@)
	$(BIN)/meshpol help --completion zsh >$@.tmp && mv $@.tmp $@

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	install -m 0755 $(BIN)/meshpol $(DESTDIR)$(PREFIX)/bin/meshpol
	cd stdlib && find . -type f -name '*.lua' | while read -r f; do \
	  install -D -m 0644 "$$f" "$(DESTDIR)$(PREFIX)/share/meshpol/stdlib/$$f" || exit 1; done
	install -m 0644 $(GEN)/meshpol.1 $(DESTDIR)$(PREFIX)/share/man/man1/meshpol.1
	install -m 0644 $(GEN)/meshpol.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/meshpol
	install -m 0644 $(GEN)/_meshpol $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_meshpol

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/meshpol $(DESTDIR)$(PREFIX)/share/man/man1/meshpol.1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/meshpol \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_meshpol
	rm -rf $(DESTDIR)$(PREFIX)/share/meshpol

deps:
	@./scripts/install-deps.sh

# Objects depend on this file too: its flags decide what they export.
$(BUILD)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/engine/%.o: engine/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ENGINE_CFLAGS) -c $< -o $@

$(BUILD)/engine/%.o: engine/%.cc Makefile
	@mkdir -p $(dir $@)
	$(CXX) $(ENGINE_CXXFLAGS) -c $< -o $@

# libmeshpol.a, what front-ends link: the engine as one object whose hidden symbols are made
# local, so only engine/include/'s declarations are defined for the linker. libmeshpol_int.a:
# the same objects as they are, for unit tests and fuzz harnesses that test internals.
$(LIB_INT): $(ENGINE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIB): $(ENGINE_OBJ)
	@mkdir -p $(dir $@)
	$(LD) -r -o $(BUILD)/meshpol.o $^
	objcopy --localize-hidden $(BUILD)/meshpol.o
	rm -f $@ && ar rcs $@ $(BUILD)/meshpol.o

$(BIN)/libmeshpol.a: $(LIB)
	@mkdir -p $(BIN)
	cp $< $@

$(BIN)/meshpol: $(FRONT_OBJ) $(LIB)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $(FRONT_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_INT)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iengine -Itests/unit -o $@ $< $(LIB_INT) $(LDLIBS) -lcmocka

# The whole suite: unit tests, then end-to-end tests; tests/run.sh prints "N passed, M failed".
test: deps
	@$(MAKE) --no-print-directory all $(TEST_BIN)
	@BUILD=$(BUILD) BIN=$(BIN) ./tests/run.sh

# The same suite under AddressSanitizer and UndefinedBehaviorSanitizer, in its own build tree.
check: deps
	@$(MAKE) --no-print-directory BUILD=build-san BIN=build-san/bin \
	  OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  all build-san/tests-stamp
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  BUILD=build-san BIN=build-san/bin ./tests/run.sh

build-san/tests-stamp: $(TEST_BIN)
	@touch $@

demo: deps
	@$(MAKE) --no-print-directory all
	@./scripts/demo.sh

bench: deps
	@./scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -C bench

format:
	clang-format -i $(ENGINE_SRC) $(FRONT_SRC) $(TEST_SRC) $(wildcard engine/*.h engine/include/*.h engine/providers/*/*.h cli/*.h repl/*.h server/*.h tests/unit/*.h bench/*.c)

clean:
	rm -rf build build-san bin bench/out

-include $(ENGINE_OBJ:.o=.d) $(FRONT_OBJ:.o=.d) $(TEST_BIN:=.d)

# --- Fuzzing (docs/testing.md, "Fuzzing"): `make fuzz` builds the libFuzzer harnesses of
# tests/fuzz/ with clang against the engine compiled with the same sanitizers into build-fuzz/,
# then runs each for FUZZ_SECONDS (the slow policy harness for a third of that), one at a time;
# FUZZ_FLAGS go to libFuzzer. Not part of `make test`, which only replays the committed corpora
# (tests/e2e/fuzz_replay.sh).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= compile mpm decide trail policy
FUZZ_FLAGS   ?=
FUZZ_BUILD   := build-fuzz
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=undefined -std=c11 -D_POSIX_C_SOURCE=200809L \
                -D_DEFAULT_SOURCE -Wall -Wextra -MMD -MP -Iengine/include -Iengine \
                $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_CXX     ?= clang++
FUZZ_OBJ     := $(ENGINE_SRC:%.c=$(FUZZ_BUILD)/%.o) $(ENGINE_CXX:%.cc=$(FUZZ_BUILD)/%.o)

.PHONY: fuzz fuzz-build
fuzz: deps
	@./scripts/install-deps.sh --fuzz
	@$(MAKE) --no-print-directory all fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_BUILD=$(FUZZ_BUILD) BIN=$(BIN) FUZZ_FLAGS="$(FUZZ_FLAGS)" \
	  ./tests/fuzz/run.sh $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

.SECONDARY: $(FUZZ_OBJ)

$(FUZZ_BUILD)/engine/%.o: engine/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/engine/%.o: engine/%.cc
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
	  -std=c++17 -Wall -Wextra -Iengine -Iengine/include $(shell pkg-config --cflags re2) -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzzutil.h $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -DFUZZ_ROOT='"$(CURDIR)"' -o $@ $< \
	  $(FUZZ_OBJ) $(LDLIBS)

-include $(FUZZ_OBJ:.o=.d)
