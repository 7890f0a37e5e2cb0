# Fuzzing with afl++. Every tests/fuzz/NAME.c is a harness defining
# LLVMFuzzerTestOneInput; its seeds are in tests/fuzz/corpus/NAME/ and the
# crashes once found in tests/fuzz/regress/NAME/.
#   make fuzz [FUZZ_SECONDS=N] [FUZZ='elf nbd']   build each with afl-clang-fast
#       (ASan + UBSan, afl++'s libFuzzer driver) and fuzz it for N seconds,
#       one after the other; new crashes are copied into regress/NAME/
#   make test   replays corpus and regressions through a gcc build of each
#       ($(BUILD)/fuzz/replay/NAME; the sanitizer pass uses $(BUILD)/san/...)
# Included by the Makefile after LIB_OBJS and TEST_BINS.

FUZZ_HARNESSES := $(basename $(notdir $(wildcard tests/fuzz/*.c)))
FUZZ           ?= $(FUZZ_HARNESSES)
FUZZ_SECONDS   ?= 60
FUZZ_PACKAGES  := afl++
FUZZ_REPLAY    := tests/fuzz/driver/replay.c
# Objects the harnesses link besides the monitor library (not instrumented).
FUZZ_LINK      := $(BUILD)/mon/builtin_guests.o $(WORKLOAD_OBJS)

# $(call fuzz_link,OUT,CC AND FLAGS,HARNESS AND OBJECTS)
fuzz_link = @mkdir -p $(dir $(1)) && $(2) -pthread -no-pie -o $(1) $(3)

# Kept between builds: the replays, afl builds and sanitizer builds all start from them.
.SECONDARY: $(LIB_OBJS)

$(BUILD)/fuzz/replay/%: tests/fuzz/%.c $(FUZZ_REPLAY) $(LIB_OBJS) $(FUZZ_LINK)
	$(call fuzz_link,$@,$(TEST_CC) $(CFLAGS) -isystem $(KINC),$(filter %.c %.o,$^))

TEST_BINS += $(FUZZ_HARNESSES:%=$(BUILD)/fuzz/replay/%)

# --- afl++ builds ----------------------------------------------------------------
AFL_CC     := AFL_USE_ASAN=1 AFL_USE_UBSAN=1 AFL_QUIET=1 afl-clang-fast
AFL_CFLAGS := $(filter-out -Werror,$(CFLAGS)) -isystem $(KINC)
AFL_OBJS   := $(patsubst %.c,$(BUILD)/afl/%.o,$(filter-out $(MAIN_SRC),$(MON_SRCS)))
.SECONDARY: $(AFL_OBJS)

$(BUILD)/afl/%.o: %.c | $(KINC)/.ok
	@mkdir -p $(dir $@)
	$(AFL_CC) $(AFL_CFLAGS) -c -o $@ $<

$(BUILD)/afl/fuzz/%: tests/fuzz/%.c $(AFL_OBJS) $(FUZZ_LINK)
	$(call fuzz_link,$@,$(AFL_CC) $(AFL_CFLAGS) -fsanitize=fuzzer,$(filter %.c %.o,$^))

fuzz:
	$(MAKE) deps DEB_PACKAGES='$(FUZZ_PACKAGES)'
	$(MAKE) $(FUZZ:%=$(BUILD)/afl/fuzz/%)
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(BUILD) $(FUZZ)

.PHONY: fuzz
