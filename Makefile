# Two commands matter: `make run` and `make test` (see README.md).
# Everything else here is what they are built from.

SHELL        := /bin/bash
BUILD        := build
CC           ?= cc
CFLAGS       ?= -O2 -g
WARN         := -Wall -Wextra -Wno-unused-parameter -Werror
CORE_CFLAGS  := $(CFLAGS) $(CPPFLAGS) $(WARN) -fPIC -Isrc/core
CORE_LIBS    := -ljansson -lyajl -lcrypto
NGINX_SRC    ?= /usr/share/nginx/src
# extra compiler and linker options for the module (debian/rules passes
# dpkg-buildflags' hardening flags here, as Debian's module packages do)
NGX_CC_OPT   ?=
NGX_LD_OPT   ?=

CORE_SRCS    := $(wildcard src/core/*.c)
CORE_HDRS    := $(wildcard src/core/*.h)
CORE_OBJS    := $(CORE_SRCS:src/core/%.c=$(BUILD)/core/%.o)
CLI_SRCS     := $(wildcard tools/*.c)
CLI_HDRS     := $(wildcard tools/*.h)
UNIT_SRCS    := $(wildcard test/unit/test_*.c)
UNIT_BINS    := $(UNIT_SRCS:test/unit/%.c=$(BUILD)/unit/%)
MODULE_SRCS  := $(wildcard src/module/*.c src/module/*.h)
MODULE_SO    := $(BUILD)/ngx_http_ddbm_module.so

.PHONY: all deps build core cli unit module test unit-test nginx-test \
        run clean lint bench deb deb-packages

all: build

build: core cli unit module $(BUILD)/parse-cost

deps:
	@bash scripts/install-deps.sh

core: $(BUILD)/libdmcore.a

$(BUILD)/core/%.o: src/core/%.c $(CORE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) -c -o $@ $<

$(BUILD)/libdmcore.a: $(CORE_OBJS)
	ar rcs $@ $^

cli: $(BUILD)/ddbm

$(BUILD)/ddbm: $(CLI_SRCS) $(CLI_HDRS) $(BUILD)/libdmcore.a
	$(CC) $(CORE_CFLAGS) $(LDFLAGS) -Itools -o $@ $(CLI_SRCS) \
	    $(BUILD)/libdmcore.a -lcurl $(CORE_LIBS)

unit: $(UNIT_BINS)

# bench/run.sh: what the answer's parse costs, beside the load figures
$(BUILD)/parse-cost: bench/parse_cost.c $(BUILD)/libdmcore.a
	$(CC) $(CORE_CFLAGS) -o $@ $< $(BUILD)/libdmcore.a $(CORE_LIBS)

$(BUILD)/unit/%: test/unit/%.c test/unit/tap.h $(BUILD)/libdmcore.a
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) -Itest/unit -o $@ $< $(BUILD)/libdmcore.a \
	    $(CORE_LIBS)

# The module is built by NGINX's own build system from a private copy of
# the configured source tree (Debian's nginx-dev by default, so the .so is
# binary compatible with Debian's nginx).
module: $(MODULE_SO)

$(BUILD)/nginx-src/objs/Makefile: config
	rm -rf $(BUILD)/nginx-src
	mkdir -p $(BUILD)
	cp -r $(NGINX_SRC) $(BUILD)/nginx-src
	cd $(BUILD)/nginx-src && source ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        $(if $(NGX_CC_OPT),"--with-cc-opt=$(NGX_CC_OPT)") \
	        $(if $(NGX_LD_OPT),"--with-ld-opt=$(NGX_LD_OPT)") \
	        --add-dynamic-module=$(CURDIR) >../nginx-configure.log 2>&1 \
	    || { cat ../nginx-configure.log; exit 1; }

$(MODULE_SO): $(BUILD)/nginx-src/objs/Makefile $(CORE_SRCS) $(CORE_HDRS) \
              $(MODULE_SRCS)
	@# NGINX's Makefile has the flags configure chose (with NGX_CC_OPT):
	@# our command line's (CFLAGS=... from debian/rules) must not override
	@# them, so MAKEFLAGS, which carries them, stays out
	env -u MAKEFLAGS -u MFLAGS $(MAKE) -s -C $(BUILD)/nginx-src \
	    -f objs/Makefile modules
	cp $(BUILD)/nginx-src/objs/ngx_http_ddbm_module.so $@

# `make deb`: libnginx-mod-http-ddbm and ddbm-tools in build/deb/, built by
# dpkg-buildpackage from debian/ (scripts/build-deb.sh); rebuilt only when
# what they are built from changed
DEB_INPUTS   := config Makefile README.md nginx.conf.example \
                $(CORE_SRCS) $(CORE_HDRS) $(MODULE_SRCS) $(CLI_SRCS) \
                $(CLI_HDRS) $(wildcard doc/*) scripts/build-deb.sh \
                $(wildcard debian/control debian/rules debian/changelog \
                    debian/copyright debian/*.docs debian/*.examples \
                    debian/*.manpages debian/source/format)
DEB_STAMP    := $(BUILD)/deb-work/built

deb: deps
	@$(MAKE) --no-print-directory deb-packages

deb-packages: $(DEB_STAMP)

$(DEB_STAMP): $(DEB_INPUTS)
	@bash scripts/build-deb.sh
	@touch $@

unit-test: unit
	prove --exec '' $(UNIT_BINS)

test: deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory sanitize
	@$(MAKE) --no-print-directory deb-packages
	@bash scripts/test.sh

run: deps
	@$(MAKE) --no-print-directory build
	@exec bash scripts/run.sh

bench: deps
	@$(MAKE) --no-print-directory build
	@bash bench/run.sh

# not part of `make test`: SOAK_REQUESTS (1000000) requests with random
# DynamoDB faults, then the table checked (bench/soak.sh)
.PHONY: soak
soak: deps
	@$(MAKE) --no-print-directory build
	@bash bench/soak.sh

clean:
	rm -rf $(BUILD)


# ---- sanitizers and fuzzing ---------------------------------------------
#
# `sanitize` (run by `make test`): the core, the CLI, the unit tests and a
# replay of every fuzz corpus, built with ASan+UBSan in $(ASAN_BUILD) (never
# mixed with $(BUILD)), run as one TAP::Harness run (fuzz/sanitize.sh).
# `fuzz`: the libFuzzer harnesses (clang), each for FUZZ_SECONDS.

ASAN_BUILD   := build-asan
ASAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=all
ASAN_CFLAGS  := -O1 -g $(ASAN_FLAGS) $(WARN) -Isrc/core
ASAN_OBJS    := $(CORE_SRCS:src/core/%.c=$(ASAN_BUILD)/core/%.o)
ASAN_UNIT    := $(UNIT_SRCS:test/unit/%.c=$(ASAN_BUILD)/unit/%)
FUZZ_SRCS    := $(wildcard fuzz/fuzz_*.c)
FUZZ_NAMES   := $(FUZZ_SRCS:fuzz/%.c=%)
ASAN_REPLAY  := $(FUZZ_NAMES:%=$(ASAN_BUILD)/fuzz/%)

FUZZ_BUILD   := build-fuzz
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer $(WARN) -Isrc/core
# the harnesses link every object: all but libcurl's exchange, which no
# harness calls (the archive builds leave it out by themselves)
FUZZ_OBJS    := $(filter-out $(FUZZ_BUILD)/core/dm_http_curl.o, \
                $(CORE_SRCS:src/core/%.c=$(FUZZ_BUILD)/core/%.o))
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/%)

.PHONY: asan sanitize asan-test fuzz fuzz-build fuzz-replay clean-fuzz

asan: $(ASAN_BUILD)/libdmcore.a $(ASAN_BUILD)/ddbm $(ASAN_UNIT) \
      $(ASAN_REPLAY)

$(ASAN_BUILD)/core/%.o: src/core/%.c $(CORE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) -c -o $@ $<

$(ASAN_BUILD)/libdmcore.a: $(ASAN_OBJS)
	ar rcs $@ $^

$(ASAN_BUILD)/ddbm: $(CLI_SRCS) $(CLI_HDRS) $(ASAN_BUILD)/libdmcore.a
	$(CC) $(ASAN_CFLAGS) -Itools -o $@ $(CLI_SRCS) \
	    $(ASAN_BUILD)/libdmcore.a -lcurl $(CORE_LIBS)

$(ASAN_BUILD)/unit/%: test/unit/%.c test/unit/tap.h $(ASAN_BUILD)/libdmcore.a
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) -Itest/unit -o $@ $< $(ASAN_BUILD)/libdmcore.a \
	    $(CORE_LIBS)

$(ASAN_BUILD)/fuzz/%: fuzz/%.c fuzz/replay.c fuzz/fuzz.h \
                      $(ASAN_BUILD)/libdmcore.a
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) -Ifuzz -o $@ $< fuzz/replay.c \
	    $(ASAN_BUILD)/libdmcore.a $(CORE_LIBS)

sanitize asan-test: asan
	@bash fuzz/sanitize.sh $(ASAN_BUILD)

fuzz-replay: $(ASAN_REPLAY)
	@bash fuzz/sanitize.sh --replay-only $(ASAN_BUILD)

$(FUZZ_BUILD)/core/%.o: src/core/%.c $(CORE_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined \
	    -fno-sanitize-recover=all -c -o $@ $<

$(FUZZ_BUILD)/%: fuzz/%.c fuzz/fuzz.h $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -Ifuzz \
	    -fno-sanitize-recover=all -o $@ $< $(FUZZ_OBJS) $(CORE_LIBS)

# one harness includes another's source
$(ASAN_BUILD)/fuzz/fuzz_jwt_claims $(FUZZ_BUILD)/fuzz_jwt_claims: fuzz/fuzz_jwt.c

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@bash fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_NAMES)

clean-fuzz:
	rm -rf $(ASAN_BUILD) $(FUZZ_BUILD)
