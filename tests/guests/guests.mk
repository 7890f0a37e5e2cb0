# Test-only guests (tests/guests/*.c): built as files for the shell suites and
# the nested test, and embedded into test binaries only, as test_guests[]
# (tests/guests/test_guests.h). Included by the top Makefile after guests.mk.

TEST_GUEST_SRCS := $(wildcard tests/guests/*.c)
TEST_GUEST_NAMES := $(basename $(notdir $(TEST_GUEST_SRCS)))
TEST_GUEST_ELFS := $(TEST_GUEST_NAMES:%=$(BUILD)/tests/guests/%.elf)
.SECONDARY: $(TEST_GUEST_SRCS:%.c=$(BUILD)/%.o)

$(BUILD)/tests/guests/%.o: tests/guests/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(BUILD)/tests/guests/%.elf: $(BUILD)/tests/guests/%.o $(GUEST_LINK_DEPS)
	$(call guest_link,$@,$<)

$(BUILD)/tests/guests/test_guests.asm: $(TEST_GUEST_ELFS) $(TEST_GUEST_SRCS) tests/guests/guests.mk
	$(call guest_table,test,tests/guests,$(BUILD)/tests/guests,$(TEST_GUEST_NAMES))

$(BUILD)/tests/kvm.crit: $(BUILD)/tests/guests/test_guests.o

test-guests: $(GUEST_ELFS) $(TEST_GUEST_ELFS)
