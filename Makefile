# JustAuth: PostgreSQL 15 extension (PGXS) + CivetWeb gateway + test tooling.
#
#   make            build the extension, the gateway and the mock WhatsApp server
#   make install    install the extension into PostgreSQL (needs root)
#   make run        install what is missing, build, start a local sandbox stack
#   make test       everything CI runs (ends with "N passed, N failed")

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config

EXTENSION = justauth
MODULE_big = justauth
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard extension/*.c)))
DATA = sql/justauth--1.0.sql
SHLIB_LINK = -lcurl
PG_CPPFLAGS = -I$(srcdir)/extension
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare -Werror

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# a header change rebuilds every module (PGXS tracks no header dependencies)
$(OBJS): $(wildcard extension/*.h)

.PHONY: gateway mock run stop test bench fuzz soak
all: $(if $(wildcard gateway/Makefile),gateway) $(if $(wildcard test/mock/Makefile),mock)

gateway:
	$(MAKE) -C gateway

mock:
	$(MAKE) -C test/mock

clean: clean-sub
clean-sub:
	-$(MAKE) -C gateway clean
	-$(MAKE) -C test/mock clean

run:
	bash tools/run.sh

stop:
	bash tools/run.sh stop

test:
	bash test/run-all.sh

bench:
	bash bench/run.sh

fuzz:
	bash test/fuzz/run.sh

soak:
	bash test/soak/run.sh
