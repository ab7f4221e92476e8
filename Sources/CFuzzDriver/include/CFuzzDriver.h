#ifndef CFUZZDRIVER_H
#define CFUZZDRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt, FuzzerDriver.cpp), for a program with its own `main`: it
/// parses libFuzzer's flags from argv and runs `callback` on each input. The fuzz target calls
/// it from its `@main` (SwiftPM renames an executable's entry point, so libFuzzer's own `main`
/// is not the one that runs). Only referenced in a `-DFUZZING` build, which links libFuzzer.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
