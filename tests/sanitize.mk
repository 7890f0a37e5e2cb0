# The sanitizer build: the monitor, the Criterion suites and the fuzz replays
# built again with gcc + glibc and -fsanitize=address,undefined into
# $(BUILD)/san/; tests/run-all.sh runs every suite but the nested one on it
# and fails on any report. Included by the Makefile after tests/fuzz/fuzz.mk.

SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_CC    := $(TEST_CC) $(CFLAGS) $(SAN_FLAGS) -isystem $(KINC)
SAN_OBJS  := $(patsubst %.c,$(BUILD)/san/%.o,$(filter-out $(MAIN_SRC),$(MON_SRCS)))
SAN_LINK  := $(BUILD)/mon/builtin_guests.o $(WORKLOAD_OBJS)
.SECONDARY: $(SAN_OBJS)

$(BUILD)/san/%.o: %.c | $(KINC)/.ok
	@mkdir -p $(dir $@)
	$(SAN_CC) -c -o $@ $<

$(BUILD)/san/beyond: $(BUILD)/san/$(MAIN_SRC:.c=.o) $(SAN_OBJS) $(SAN_LINK)
	$(SAN_CC) -pthread -no-pie -o $@ $^

$(BUILD)/san/tests/%.crit: $$(wildcard tests/$$*/*.c) $(SAN_OBJS) $(SAN_LINK)
	@mkdir -p $(dir $@)
	$(SAN_CC) -pthread -no-pie -o $@ $(wildcard tests/$*/*.c) $(filter %.o,$^) -lcriterion

$(BUILD)/san/tests/kvm.crit: $(BUILD)/tests/guests/test_guests.o

$(BUILD)/san/fuzz/replay/%: tests/fuzz/%.c $(FUZZ_REPLAY) $(SAN_OBJS) $(FUZZ_LINK)
	$(call fuzz_link,$@,$(SAN_CC),$(filter %.c %.o,$^))

TEST_BINS += $(BUILD)/san/beyond $(CRIT_DIRS:%=$(BUILD)/san/tests/%.crit) \
	$(FUZZ_HARNESSES:%=$(BUILD)/san/fuzz/replay/%)
