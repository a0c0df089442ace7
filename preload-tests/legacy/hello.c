/* Does nothing but say that main() ran (the config-error test checks that a
 * malformed COHOOK_* value stops the program before main under the shim). */
#include <stdio.h>

int main(void)
{
    printf("main reached\n");
    return 0;
}
