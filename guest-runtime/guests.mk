# Guest images: boot/ stubs + guest-runtime/ linked with linker.ld, one per
# guest-runtime/guests/*.c, embedded into the monitor as built-in guests.
# A user's own guest: make guest SRC='a.c b.c' OUT=a.elf

BOOT_OBJS := $(patsubst boot/%.asm,$(BUILD)/guest/boot/%.o,$(wildcard boot/*.asm))
# The numbers of guest-runtime/abi.h, as nasm %defines for boot/*.asm.
ABI_INC := $(BUILD)/guest/abi.inc
# The runtime is an archive: a guest links only the pieces it uses.
RT_LIB := $(BUILD)/guest/libbeyond-rt.a
RT_SRCS := $(wildcard guest-runtime/*.c guest-runtime/workloads/*.c)
RT_OBJS := $(RT_SRCS:guest-runtime/%.c=$(BUILD)/guest/rt/%.o)
# Workload objects the monitor links too, to run the same code natively.
WORKLOAD_OBJS := $(patsubst guest-runtime/%.c,$(BUILD)/guest/rt/%.o,$(wildcard guest-runtime/workloads/*.c))
GUEST_SRCS := $(wildcard guest-runtime/guests/*.c)
GUEST_NAMES := $(basename $(notdir $(GUEST_SRCS)))
GUEST_ELFS := $(GUEST_NAMES:%=$(BUILD)/guests/%.elf)

# Every guest image links these.
GUEST_LINK_DEPS := $(BOOT_OBJS) $(RT_LIB) linker.ld
# Not intermediates: boot objects serve hand links too, and a deleted guest
# object would be rebuilt as soon as its .d file names it.
.SECONDARY: $(BOOT_OBJS) $(GUEST_SRCS:guest-runtime/%.c=$(BUILD)/guest/rt/%.o)
# guest_link OUT,INPUTS[,CFLAGS]: INPUTS are objects, or sources when CFLAGS are given.
guest_link = $(GUEST_CC) $(3) $(GUEST_LDFLAGS) -o $(1) $(BOOT_OBJS) $(2) $(RT_LIB) -lgcc

$(BUILD)/guest/abi_inc: $(BUILD)/mon/boot/abi_inc.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $<

$(ABI_INC): $(BUILD)/guest/abi_inc
	$< >$@

$(BUILD)/guest/boot/%.o: boot/%.asm $(ABI_INC)
	@mkdir -p $(dir $@)
	$(NASM) -f elf64 -I $(dir $(ABI_INC)) -o $@ $<

$(BUILD)/guest/rt/%.o: guest-runtime/%.c
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(RT_LIB): $(RT_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/guests/%.elf: $(BUILD)/guest/rt/guests/%.o $(GUEST_LINK_DEPS)
	@mkdir -p $(dir $@)
	$(call guest_link,$@,$<)

# A user's guest in one step (SRC and OUT relative to this directory, or
# absolute): no dependency files, as the sources may live anywhere.
ifneq ($(filter guest,$(MAKECMDGOALS)),)
ifeq ($(and $(SRC),$(OUT)),)
$(error usage: make guest SRC='main.c ...' OUT=guest.elf)
endif
endif
guest: $(GUEST_LINK_DEPS)
	@mkdir -p $(dir $(OUT))
	$(call guest_link,$(OUT),$(SRC),$(filter-out -MMD -MP,$(GUEST_CFLAGS)))

# guest_table PREFIX,SRCDIR,ELFDIR,NAMES: writes $@, a nasm table
# PREFIX_guests[] / PREFIX_guest_count of struct builtin_guest (hv/guests.h):
# name, one-line description (the source's "guest:" comment) and the image.
guest_table = @mkdir -p $(dir $@); \
	{ echo 'section .rodata'; echo 'align 8'; \
	  echo 'global $(1)_guests, $(1)_guest_count'; \
	  echo '$(1)_guests:'; \
	  for g in $(4); do echo "  dq name_$$g, desc_$$g, image_$$g, image_$${g}_end - image_$$g"; done; \
	  echo "$(1)_guest_count: dq $(words $(4))"; \
	  for g in $(4); do \
	    d=$$(sed -n 's|^/\* guest: \(.*\) \*/$$|\1|p' $(2)/$$g.c | head -n 1); \
	    echo "name_$$g: db \"$$g\", 0"; \
	    echo "desc_$$g: db \"$$d\", 0"; \
	    echo 'align 16'; \
	    echo "image_$$g: incbin \"$(3)/$$g.elf\""; \
	    echo "image_$${g}_end:"; \
	  done; echo 'section .note.GNU-stack noalloc noexec nowrite progbits'; } > $@

$(BUILD)/mon/builtin_guests.asm: $(GUEST_ELFS) $(GUEST_SRCS) guest-runtime/guests.mk
	$(call guest_table,builtin,guest-runtime/guests,$(BUILD)/guests,$(GUEST_NAMES))

$(BUILD)/%_guests.o: $(BUILD)/%_guests.asm
	$(NASM) -f elf64 -o $@ $<

.PHONY: guest
