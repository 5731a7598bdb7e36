#include "tests/unit/check.h"
int main(void) { return 0; }
