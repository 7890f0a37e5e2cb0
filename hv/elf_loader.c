#include <elf.h>
#include <stdio.h>
#include <string.h>
#include "guest-runtime/abi.h"
#include "hv/elf_loader.h"
#include "hv/error.h"
#include "mm/range.h"

/* linker.ld makes three; the cap keeps the overlap check cheap on crafted files. */
#define ELF_MAX_PHDRS 64

static int check_header(const Elf64_Ehdr *eh, size_t size, char *err, size_t errlen)
{
	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return error_set(err, errlen, "not an ELF file");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return error_set(err, errlen, "not a little-endian ELF64 file");
	if (eh->e_machine != EM_X86_64)
		return error_set(err, errlen, "not an x86-64 image (e_machine %u)", eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return error_set(err, errlen, "not a static executable (e_type %u; PIE and shared objects are refused)",
			      eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > ELF_MAX_PHDRS)
		return error_set(err, errlen, "bad program header table (entry size %u, count %u)",
			      eh->e_phentsize, eh->e_phnum);
	if (!range_inside(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), size))
		return error_set(err, errlen, "program header table past end of file (truncated?)");
	return 0;
}

/* Finds the beyond note in a PT_NOTE segment; 1 if found, 0 if not, -1 if malformed. */
static int find_note(const uint8_t *file, const Elf64_Phdr *ph, struct beyond_note *note)
{
	uint64_t off = 0;
	while (off + sizeof(Elf64_Nhdr) <= ph->p_filesz) {
		Elf64_Nhdr nh;
		memcpy(&nh, file + ph->p_offset + off, sizeof(nh));
		uint64_t name_off = off + sizeof(nh);
		uint64_t desc_off = name_off + (((uint64_t)nh.n_namesz + 3) & ~3ull);
		uint64_t next = desc_off + (((uint64_t)nh.n_descsz + 3) & ~3ull);
		if (next > ph->p_filesz)
			return -1;
		if (nh.n_type == BEYOND_NOTE_TYPE && nh.n_namesz == sizeof(BEYOND_NOTE_NAME) &&
		    memcmp(file + ph->p_offset + name_off, BEYOND_NOTE_NAME, nh.n_namesz) == 0) {
			if (nh.n_descsz != sizeof(*note))
				return -1;
			memcpy(note, file + ph->p_offset + desc_off, sizeof(*note));
			return 1;
		}
		off = next;
	}
	return 0;
}

int elf_load(const uint8_t *file, size_t size, uint8_t *ram, uint64_t load_min,
	     uint64_t load_max, struct elf_image *out, char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	if (size >= sizeof(eh))
		memcpy(&eh, file, sizeof(eh));
	if (check_header(&eh, size, err, errlen))
		return -1;

	struct beyond_note note;
	int have_note = 0;
	uint64_t start = UINT64_MAX, end = 0;
	int entry_ok = 0;

	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, file + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC)
			return error_set(err, errlen, "dynamically linked image (program header %u)", i);
		if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE)
			continue;
		if (!range_inside(ph.p_offset, ph.p_filesz, size))
			return error_set(err, errlen, "segment %u extends past end of file (truncated?)", i);
		if (ph.p_type == PT_NOTE) {
			int r = find_note(file, &ph, &note);
			if (r < 0)
				return error_set(err, errlen, "malformed note in segment %u", i);
			have_note |= r;
			continue;
		}
		if (ph.p_filesz > ph.p_memsz)
			return error_set(err, errlen, "segment %u: file size exceeds memory size", i);
		if (ph.p_paddr != ph.p_vaddr)
			return error_set(err, errlen, "segment %u: physical and virtual address differ", i);
		if (ph.p_vaddr < load_min || !range_inside(ph.p_vaddr, ph.p_memsz, load_max))
			return error_set(err, errlen,
				      "segment %u [%#lx, +%#lx) outside guest RAM available to images [%#lx, %#lx)",
				      i, (unsigned long)ph.p_vaddr, (unsigned long)ph.p_memsz,
				      (unsigned long)load_min, (unsigned long)load_max);
		for (unsigned j = 0; j < i; j++) {
			Elf64_Phdr q;
			memcpy(&q, file + eh.e_phoff + j * sizeof(q), sizeof(q));
			if (q.p_type == PT_LOAD && range_overlaps(ph.p_vaddr, ph.p_memsz, q.p_vaddr, q.p_memsz))
				return error_set(err, errlen, "segments %u and %u overlap", j, i);
		}
		memcpy(ram + ph.p_vaddr, file + ph.p_offset, ph.p_filesz);
		memset(ram + ph.p_vaddr + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		if (ph.p_memsz == 0)
			continue;
		if (ph.p_vaddr < start)
			start = ph.p_vaddr;
		if (ph.p_vaddr + ph.p_memsz > end)
			end = ph.p_vaddr + ph.p_memsz;
		if ((ph.p_flags & PF_X) && eh.e_entry >= ph.p_vaddr && eh.e_entry - ph.p_vaddr < ph.p_memsz)
			entry_ok = 1;
	}
	if (end == 0)
		return error_set(err, errlen, "no loadable segment");
	if (!entry_ok)
		return error_set(err, errlen, "entry point %#lx is not in an executable segment",
			      (unsigned long)eh.e_entry);
	if (!have_note)
		return error_set(err, errlen, "no beyond ABI note (not linked with the beyond runtime?)");
	if (note.abi_version != BEYOND_ABI_VERSION)
		return error_set(err, errlen, "guest ABI version %u, this monitor speaks %u",
			      note.abi_version, BEYOND_ABI_VERSION);
	if (note.exception_handlers < start || !range_inside(note.exception_handlers, sizeof(out->exception_handlers), end))
		return error_set(err, errlen, "exception handler table outside the image");
	memcpy(out->exception_handlers, ram + note.exception_handlers, sizeof(out->exception_handlers));
	for (int v = 0; v < 32; v++)
		if (out->exception_handlers[v] < start || out->exception_handlers[v] >= end)
			return error_set(err, errlen, "exception handler %d outside the image", v);
	out->entry = eh.e_entry;
	out->start = start;
	out->end = end;
	return 0;
}
