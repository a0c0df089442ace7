// Symbolizer: a code address -> "function+0xoff (object)".
//
// dladdr() only knows dynamic symbols, and most programs are not linked with
// -rdynamic, so their own functions (a worker's start routine, a compute
// loop) would come out as bare addresses. This reads the ELF symbol tables
// (.symtab, else .dynsym) of the object that maps the address, found with
// dl_iterate_phdr, from the object's file; each file is mapped and indexed
// once and kept. C++ names are demangled.
//
// Safe to call from any thread after start-up, never from a signal handler
// (it takes a lock, maps files and allocates). Files are opened with raw
// system calls so that the shim's own hooks are not re-entered.
#pragma once
#include <cstddef>

namespace cohook {

// "name+0x1a (libfoo.so.1)"; without a symbol "0x7f.. (libfoo.so.1+0x1234)";
// false (and "0x.." in out) when no loaded object maps pc. out is always
// NUL-terminated when n > 0, truncated when too short.
bool symbolize(const void* pc, char* out, size_t n);

// The demangled name of the function containing pc, without offset or
// object; false when none is known.
bool function_name(const void* pc, char* out, size_t n);

// The file name (no directory) of the object mapping pc; false when none.
bool object_name(const void* pc, char* out, size_t n);

}  // namespace cohook
