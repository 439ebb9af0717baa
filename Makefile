# Two commands matter: `make run` and `make test` (see README.md).
# Everything else here is what they are built from.

SHELL        := /bin/bash
BUILD        := build
CC           ?= cc
CFLAGS       ?= -O2 -g
WARN         := -Wall -Wextra -Wno-unused-parameter -Werror
CORE_CFLAGS  := $(CFLAGS) $(WARN) -fPIC -Isrc/core
CORE_LIBS    := -ljansson -lyajl -lcrypto
NGINX_SRC    ?= /usr/share/nginx/src

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
        run clean lint bench

all: build

build: core cli unit module

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
	$(CC) $(CORE_CFLAGS) -Itools -o $@ $(CLI_SRCS) $(BUILD)/libdmcore.a \
	    -lcurl $(CORE_LIBS)

unit: $(UNIT_BINS)

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
	        --add-dynamic-module=$(CURDIR) >../nginx-configure.log 2>&1 \
	    || { cat ../nginx-configure.log; exit 1; }

$(MODULE_SO): $(BUILD)/nginx-src/objs/Makefile $(CORE_SRCS) $(CORE_HDRS) \
              $(MODULE_SRCS)
	$(MAKE) -s -C $(BUILD)/nginx-src -f objs/Makefile modules
	cp $(BUILD)/nginx-src/objs/ngx_http_ddbm_module.so $@

unit-test: unit
	prove --exec '' $(UNIT_BINS)

test: deps
	@$(MAKE) --no-print-directory build
	@bash scripts/test.sh

run: deps
	@$(MAKE) --no-print-directory build
	@exec bash scripts/run.sh

bench: deps
	@$(MAKE) --no-print-directory build
	@bash bench/run.sh

clean:
	rm -rf $(BUILD)
