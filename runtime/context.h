// The machine-level context switch, implemented in asm/ (one file per ABI).
// A suspended context is just the stack pointer the switch saved; see the frame
// tables at the top of asm/switch_*.S.
#pragma once

namespace cohook {

using ContextEntry = void (*)(void* transfer, void* arg);

extern "C" {
// Save the running context into *save_sp and continue the one at load_sp. That
// side's own cohook_switch call returns `transfer`; a new context receives it as
// the first argument of its entry function.
void* cohook_switch(void** save_sp, void* load_sp, void* transfer);

// Build a suspended context on a fresh stack whose highest address is
// stack_top. When first switched to it runs entry(transfer, arg); entry must
// never return (it switches away for the last time instead).
void* cohook_make_context(void* stack_top, ContextEntry entry, void* arg);
}

}  // namespace cohook
