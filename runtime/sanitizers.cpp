#include "sanitizers.h"

#include "stack_pool.h"

namespace cohook {

void valgrind_stack_register([[maybe_unused]] Stack& s) {
#ifdef COHOOK_VALGRIND
  s.valgrind_id = VALGRIND_STACK_REGISTER(s.limit(), s.top());
#endif
}

void valgrind_stack_deregister([[maybe_unused]] Stack& s) {
#ifdef COHOOK_VALGRIND
  VALGRIND_STACK_DEREGISTER(s.valgrind_id);
#endif
}

}  // namespace cohook
