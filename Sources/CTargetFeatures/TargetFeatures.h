// What the compiler targets, as seen by Clang's predefined macros. Swift has no conditional
// compilation on target features, but its Clang importer runs with the same target as the Swift
// code (release builds pass -Xcc -march=native, Package.swift), so a macro read from here
// describes the vector registers the code being compiled actually gets.

#ifndef TAPESTRY_TARGET_FEATURES_H
#define TAPESTRY_TARGET_FEATURES_H

// 1 when the target has 32 vector registers of 512 bits (AVX-512F), so that a 16-Float
// (or 8-Double) vector is one register and a register tile of 16 such vectors fits; 0 otherwise
// (AVX2: 16 registers of 256 bits, so each such vector takes two; NEON: 32 of 128 bits).
#if defined(__AVX512F__)
#define TAPESTRY_WIDE_VECTOR_REGISTERS 1
#else
#define TAPESTRY_WIDE_VECTOR_REGISTERS 0
#endif

#endif
