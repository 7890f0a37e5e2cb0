/* The ELF loader against the real hello image and every way of breaking it. */
#include <criterion/criterion.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "guest-runtime/abi.h"
#include "hv/elf_loader.h"

#define RAM_SIZE (16u << 20)
#define LOAD_MIN 0x100000u
#define IMAGE "build/guests/hello.elf"

static uint8_t *img, *ram;
static size_t img_size;
static char err[256];
static struct elf_image out;

static void setup(void)
{
	FILE *f = fopen(IMAGE, "rb");
	cr_assert_not_null(f, "%s missing: build the guests first", IMAGE);
	fseek(f, 0, SEEK_END);
	img_size = ftell(f);
	rewind(f);
	img = malloc(img_size);
	cr_assert_eq(fread(img, 1, img_size, f), img_size);
	fclose(f);
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(ram, MAP_FAILED);
}

static void teardown(void)
{
	free(img);
	munmap(ram, RAM_SIZE);
}

static int load(const uint8_t *file, size_t size)
{
	err[0] = 0;
	return elf_load(file, size, ram, LOAD_MIN, RAM_SIZE, &out, err, sizeof(err));
}

static Elf64_Ehdr *eh(void) { return (Elf64_Ehdr *)img; }
static Elf64_Phdr *ph(int i) { return (Elf64_Phdr *)(img + eh()->e_phoff) + i; }

static int find_phdr(uint32_t type)
{
	for (int i = 0; i < eh()->e_phnum; i++)
		if (ph(i)->p_type == type)
			return i;
	cr_assert_fail("no program header of type %u", type);
	return -1;
}

static void expect_reject(const char *why)
{
	cr_assert_eq(load(img, img_size), -1, "accepted an image with %s", why);
	cr_assert(err[0], "no reason given for %s", why);
}

TestSuite(elf, .init = setup, .fini = teardown);

Test(elf, loads_the_real_image)
{
	cr_assert_eq(load(img, img_size), 0, "%s", err);
	cr_assert_geq(out.start, LOAD_MIN);
	cr_assert(out.entry >= out.start && out.entry < out.end);
	for (int v = 0; v < 32; v++)
		cr_assert(out.exception_handlers[v] >= out.start && out.exception_handlers[v] < out.end);
	int t = find_phdr(PT_LOAD);
	cr_assert_eq(memcmp(ram + ph(t)->p_vaddr, img + ph(t)->p_offset, ph(t)->p_filesz), 0);
}

Test(elf, every_truncation_is_refused)
{
	for (size_t n = 0; n < img_size; n += (n < 4096 ? 1 : 997)) {
		int r = load(img, n);
		/* Cutting only debug sections off the end may leave a loadable image. */
		if (r == 0)
			cr_assert_geq(n, ph(find_phdr(PT_LOAD))->p_offset, "loaded a %zu-byte prefix", n);
		else
			cr_assert(err[0]);
	}
}

Test(elf, bad_magic) { img[1] = 'X'; expect_reject("bad magic"); }
Test(elf, elf32) { img[EI_CLASS] = ELFCLASS32; expect_reject("ELFCLASS32"); }
Test(elf, big_endian) { img[EI_DATA] = ELFDATA2MSB; expect_reject("big endian"); }
Test(elf, wrong_machine) { eh()->e_machine = EM_AARCH64; expect_reject("e_machine aarch64"); }
Test(elf, pie) { eh()->e_type = ET_DYN; expect_reject("ET_DYN"); }
Test(elf, phoff_past_end) { eh()->e_phoff = img_size - 8; expect_reject("phoff past end"); }
Test(elf, phoff_wraps) { eh()->e_phoff = UINT64_MAX - 16; expect_reject("wrapping phoff"); }
Test(elf, phentsize) { eh()->e_phentsize = 32; expect_reject("short phentsize"); }
Test(elf, too_many_phdrs) { eh()->e_phnum = 0xffff; expect_reject("65535 program headers"); }

Test(elf, segment_past_eof)
{
	ph(find_phdr(PT_LOAD))->p_filesz = img_size + 1;
	expect_reject("filesz past end of file");
}

Test(elf, segment_offset_wraps)
{
	ph(find_phdr(PT_LOAD))->p_offset = UINT64_MAX - 100;
	expect_reject("wrapping p_offset");
}

Test(elf, filesz_over_memsz)
{
	Elf64_Phdr *p = ph(find_phdr(PT_LOAD));
	p->p_memsz = p->p_filesz - 1;
	expect_reject("filesz > memsz");
}

Test(elf, segment_outside_ram)
{
	Elf64_Phdr *p = ph(find_phdr(PT_LOAD));
	p->p_vaddr = p->p_paddr = RAM_SIZE - 16;
	expect_reject("a segment past the end of RAM");
}

Test(elf, segment_memsz_wraps)
{
	Elf64_Phdr *p = ph(find_phdr(PT_LOAD));
	p->p_memsz = UINT64_MAX - p->p_vaddr + 4096;
	expect_reject("wrapping memsz");
}

Test(elf, segment_over_monitor_structures)
{
	Elf64_Phdr *p = ph(find_phdr(PT_LOAD));
	p->p_vaddr = p->p_paddr = 0x1000; /* the GDT */
	expect_reject("a segment over the GDT");
}

Test(elf, overlapping_segments)
{
	int a = find_phdr(PT_LOAD);
	Elf64_Phdr *b = ph(a + 1);
	cr_assert_eq(b->p_type, PT_LOAD);
	b->p_vaddr = b->p_paddr = ph(a)->p_vaddr + 16;
	expect_reject("overlapping segments");
}

Test(elf, entry_outside)
{
	eh()->e_entry = 0x10;
	expect_reject("entry outside the image");
}

Test(elf, interp)
{
	ph(find_phdr(PT_NOTE))->p_type = PT_INTERP;
	expect_reject("PT_INTERP");
}

Test(elf, no_note)
{
	ph(find_phdr(PT_NOTE))->p_type = PT_NULL;
	expect_reject("no ABI note");
}

Test(elf, wrong_abi_version)
{
	Elf64_Phdr *n = ph(find_phdr(PT_NOTE));
	struct beyond_note *d = (struct beyond_note *)(img + n->p_offset + sizeof(Elf64_Nhdr) + 8);
	cr_assert_eq(d->abi_version, BEYOND_ABI_VERSION);
	d->abi_version = BEYOND_ABI_VERSION + 1;
	expect_reject("another ABI version");
	cr_assert(strstr(err, "ABI"), "%s", err);
}

Test(elf, note_size_lies)
{
	Elf64_Phdr *n = ph(find_phdr(PT_NOTE));
	((Elf64_Nhdr *)(img + n->p_offset))->n_descsz = 0x7ffffff0;
	expect_reject("a note larger than its segment");
}

Test(elf, handler_table_outside)
{
	Elf64_Phdr *n = ph(find_phdr(PT_NOTE));
	struct beyond_note *d = (struct beyond_note *)(img + n->p_offset + sizeof(Elf64_Nhdr) + 8);
	d->exception_handlers = 0x2000;
	expect_reject("an exception table outside the image");
}

Test(elf, random_corruption_never_crashes)
{
	uint8_t *copy = malloc(img_size);
	srand(1234);
	for (int round = 0; round < 3000; round++) {
		memcpy(copy, img, img_size);
		size_t hot = 64 + eh()->e_phnum * sizeof(Elf64_Phdr) + 512;
		for (int k = 0; k < 1 + rand() % 8; k++)
			copy[rand() % (rand() % 4 ? hot : img_size)] = (uint8_t)rand();
		int r = elf_load(copy, img_size, ram, LOAD_MIN, RAM_SIZE, &out, err, sizeof(err));
		cr_assert(r == 0 || r == -1);
		if (r == 0)
			cr_assert(out.start >= LOAD_MIN && out.end <= RAM_SIZE && out.entry < out.end);
	}
	free(copy);
}
