/* The CPU's own limit, for docs/performance.md: its clock, and the FMA throughput of its widest
 * vector unit in fp32 and bf16, each on every core at once.
 *
 * Written in C because Python cannot issue one chosen instruction in a tight loop. Built by
 * benchmarks/peak.py with the host compiler and -march=native; prints one JSON object.
 *   clock_ghz:    a chain of dependent register-to-register adds (one cycle each on every x86 core
 *                 since P6; not adds of an immediate, which Intel's Golden Cove and later fold in
 *                 the renamer, several a cycle: such a chain read 14-17 "GHz" on a Xeon with AMX);
 *   fp32_gflops:  independent vfmadd231ps chains, 2 FLOP per lane;
 *   bf16_gflops:  independent vdpbf16ps chains (AVX512-BF16), 2 products summed into each fp32
 *                 lane: 4 FLOP per lane.
 *   int8_gops:    u8 × s8 products summed into int32 lanes, as int8 convolutions compute them:
 *                 vpdpbusd (AVX512-VNNI, or AVX-VNNI on 256 bits), 4 products per lane, 8 OP;
 *                 else the AVX2 (or AVX-512BW) sequence vpmaddubsw + vpmaddwd + vpaddd, the same
 *                 8 OP per int32 lane in three instructions.
 *   int8_isa:     which of these ran.
 *   amx_bf16_gflops, amx_int8_gops: where the CPU has AMX (Intel Sapphire Rapids and later), the
 *                 tile dot products that oneDNN's AMX kernels use: tdpbf16ps and tdpbusd on full
 *                 16×64-byte tiles, four independent accumulator tiles (2×2 blocking, the tiles'
 *                 eight registers all in use); 16×16×32 bf16 or 16×16×64 int8 multiply-adds per
 *                 instruction, 2 FLOP (OP) each. 0 where the kernel refuses the tile state.
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <time.h>
#if defined(__AMX_TILE__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* More independent accumulators than FMA latency × pipes on any current core, yet few enough that
 * they stay in registers with the operands: 32 vector registers with AVX-512, 16 with AVX2. */
#if defined(__AVX512F__)
#define CHAINS 16
#else
#define CHAINS 12
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double clock_ghz(long n) {
    unsigned long a = 0, one = 1;
    double t = now();
    for (long i = 0; i < n; i++)
        __asm__ volatile("add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
                         "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0" : "+r"(a) : "r"(one));
    return 10.0 * n / (now() - t) / 1e9;
}

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define FMA(acc, a, b) _mm512_fmadd_ps(a, b, acc)
#define SET1 _mm512_set1_ps
#define SUM(v) _mm512_reduce_add_ps(v)
#else
typedef __m256 vec;
#define LANES 8
#define FMA(acc, a, b) _mm256_fmadd_ps(a, b, acc)
#define SET1 _mm256_set1_ps
static float SUM(__m256 v) { float x[8]; _mm256_storeu_ps(x, v); float s = 0; for (int i = 0; i < 8; i++) s += x[i]; return s; }
#endif

static double fp32_flops(long n, float *sink) {
    vec acc[CHAINS], a = SET1(1e-7f), b = SET1(0.999f);
    for (int k = 0; k < CHAINS; k++) acc[k] = SET1((float)k);
    for (long i = 0; i < n; i++)
#pragma GCC unroll 16 /* the accumulators must live in registers, not on the stack */
        for (int k = 0; k < CHAINS; k++) acc[k] = FMA(acc[k], a, b);
    float s = 0;
    for (int k = 0; k < CHAINS; k++) s += SUM(acc[k]);
    *sink = s;
    return 2.0 * LANES * CHAINS * n;
}

#if defined(__AVX512BF16__)
static double bf16_flops(long n, float *sink) {
    __m512 acc[CHAINS];
    __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
    __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.5f));
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < n; i++)
#pragma GCC unroll 16
        for (int k = 0; k < CHAINS; k++) acc[k] = _mm512_dpbf16_ps(acc[k], a, b);
    float s = 0;
    for (int k = 0; k < CHAINS; k++) s += _mm512_reduce_add_ps(acc[k]);
    *sink = s;
    return 4.0 * 16 * CHAINS * n;
}
#endif

#if defined(__AVX512VNNI__) || defined(__AVX512BW__)
typedef __m512i ivec;
#define ILANES 16
#define ISET1 _mm512_set1_epi32
#if defined(__AVX512VNNI__)
#define INT8_ISA "AVX512-VNNI vpdpbusd"
#define DOT(acc, a, b) _mm512_dpbusd_epi32(acc, a, b)
#else
#define INT8_ISA "AVX-512BW vpmaddubsw+vpmaddwd+vpaddd"
#define DOT(acc, a, b) _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(acc, b), _mm512_set1_epi16(1)))
#endif
static int ISUM(__m512i v) { return _mm512_reduce_add_epi32(v); }
#else
typedef __m256i ivec;
#define ILANES 8
#define ISET1 _mm256_set1_epi32
#if defined(__AVXVNNI__)
#define INT8_ISA "AVX-VNNI vpdpbusd"
#define DOT(acc, a, b) _mm256_dpbusd_avx_epi32(acc, a, b)
#else
#define INT8_ISA "AVX2 vpmaddubsw+vpmaddwd+vpaddd"
#define DOT(acc, a, b) _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(acc, b), _mm256_set1_epi16(1)))
#endif
static int ISUM(__m256i v) { int x[8]; _mm256_storeu_si256((__m256i *)x, v); int s = 0; for (int i = 0; i < 8; i++) s += x[i]; return s; }
#endif

/* int8 dot products: 4 u8 × s8 products and their sum into each int32 lane per step, 8 OP. The
 * three-instruction sequence multiplies the accumulator's own bytes (a is unused there), since
 * products of loop-invariant operands would be hoisted out of the loop by the compiler. */
static double int8_ops(long n, float *sink) {
    ivec acc[CHAINS], a = ISET1(0x01020304), b = ISET1(0x01fe01fe);
    for (int k = 0; k < CHAINS; k++) acc[k] = ISET1(k);
    for (long i = 0; i < n; i++)
#pragma GCC unroll 16
        for (int k = 0; k < CHAINS; k++) acc[k] = DOT(acc[k], a, b);
    int s = 0;
    for (int k = 0; k < CHAINS; k++) s += ISUM(acc[k]);
    *sink = (float)s;
    return 8.0 * ILANES * CHAINS * n;
}

#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AMX_INT8__)
/* Linux hands out the 8 KiB tile state only on request, per process (arch_prctl). */
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int amx_permitted(void) {
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

/* Every tile 16 rows of 64 bytes: tmm0-3 accumulate, tmm4-5 are A, tmm6-7 are B. A constant in
 * memory, since gcc 12 does not see ldtilecfg read its operand and drops stores into a local one. */
static const unsigned char amx_cfg[64] __attribute__((aligned(64))) = {
    [0] = 1, /* palette 1 */
    [16] = 64, [18] = 64, [20] = 64, [22] = 64, [24] = 64, [26] = 64, [28] = 64, [30] = 64, /* bytes per row */
    [48] = 16, [49] = 16, [50] = 16, [51] = 16, [52] = 16, [53] = 16, [54] = 16, [55] = 16, /* rows */
};

static unsigned char amx_data[16 * 64] __attribute__((aligned(64)));

#define AMX_LOOP(n, INSN)                                                   \
    do {                                                                    \
        _tile_loadconfig(amx_cfg);                                          \
        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);         \
        _tile_loadd(4, amx_data, 64); _tile_loadd(5, amx_data, 64);         \
        _tile_loadd(6, amx_data, 64); _tile_loadd(7, amx_data, 64);         \
        for (long i = 0; i < (n); i++) {                                    \
            INSN(0, 4, 6); INSN(1, 4, 7); INSN(2, 5, 6); INSN(3, 5, 7);     \
        }                                                                   \
        float out[16 * 16];                                                 \
        _tile_stored(0, out, 64);                                           \
        _tile_release();                                                    \
        *sink = out[0];                                                     \
    } while (0)

/* n/16 iterations: a tile instruction does 16×16×32 (bf16) multiply-adds, 512× a vector one. */
static double amx_bf16_flops(long n, float *sink) {
    AMX_LOOP(n / 16, _tile_dpbf16ps);
    return 4.0 * 2 * 16 * 16 * 32 * (n / 16);
}

static double amx_int8_ops(long n, float *sink) {
    AMX_LOOP(n / 16, _tile_dpbusd);
    return 4.0 * 2 * 16 * 16 * 64 * (n / 16);
}
#define HAVE_AMX 1
#endif

/* FLOP/s of kernel on every thread at once: total FLOPs over the slowest thread's wall time. */
static double all_cores(double (*kernel)(long, float *), long n) {
    double flops = 0, t = now();
    float sink = 0;
#pragma omp parallel reduction(+ : flops, sink)
    {
        float s;
        flops += kernel(n, &s);
        sink += s;
    }
    t = now() - t;
    if (sink == 12345.f) printf(" ");  /* keeps the accumulators alive */
    return flops / t / 1e9;
}

int main(void) {
    long n = 20000000;
    double best_clock = 0, best32 = 0, best16 = 0, best8 = 0, amx16 = 0, amx8 = 0;
#if defined(HAVE_AMX)
    int amx = amx_permitted();
#endif
    for (int r = 0; r < 5; r++) {  /* best of 5: other load only ever slows a run down */
        double c = clock_ghz(n * 2);
        best_clock = c > best_clock ? c : best_clock;
        double f = all_cores(fp32_flops, n);
        best32 = f > best32 ? f : best32;
#if defined(__AVX512BF16__)
        double g = all_cores(bf16_flops, n);
        best16 = g > best16 ? g : best16;
#endif
        double q = all_cores(int8_ops, n);
        best8 = q > best8 ? q : best8;
#if defined(HAVE_AMX)
        if (amx) {
            double x = all_cores(amx_bf16_flops, n), y = all_cores(amx_int8_ops, n);
            amx16 = x > amx16 ? x : amx16;
            amx8 = y > amx8 ? y : amx8;
        }
#endif
    }
    printf("{\"threads\": %d, \"lanes_fp32\": %d, \"clock_ghz\": %.3f, \"fp32_gflops\": %.1f, \"bf16_gflops\": %.1f, "
           "\"int8_gops\": %.1f, \"int8_isa\": \"%s\", \"amx_bf16_gflops\": %.1f, \"amx_int8_gops\": %.1f}\n",
           omp_get_max_threads(), LANES, best_clock, best32, best16, best8, INT8_ISA, amx16, amx8);
    return 0;
}
