/*
 * LD_PRELOAD shim for linux.uml 6.1 on hosts whose FPU state (xstate) is larger than the
 * 832 bytes UML 6.1 reads and writes (AVX-512, AMX): the host kernel refuses a short
 * PTRACE_SETREGSET(NT_X86_XSTATE) with EFAULT and every guest process dies. The shim reads the
 * full state on UML's GETREGSET (keeping the last few copies), and on SETREGSET writes UML's
 * 832 bytes over the full state it read for them, so the upper AVX-512/AMX registers survive
 * UML's traps too. Built by the driver with `cc` on first use (see src/xstate-shim.ts).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>
#define NT_X86_XSTATE 0x202
#define SLOTS 64
#define MAXSTATE 16384
typedef long (*ptrace_fn)(int, pid_t, void *, void *);
static ptrace_fn real;
static unsigned char saved[SLOTS][MAXSTATE] __attribute__((aligned(64)));
static size_t saved_len[SLOTS];
static unsigned next_slot;

long ptrace(enum __ptrace_request request, ...) {
  va_list ap; va_start(ap, request);
  pid_t pid = va_arg(ap, pid_t); void *addr = va_arg(ap, void *); void *data = va_arg(ap, void *);
  va_end(ap);
  if (!real) real = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
  if ((request != PTRACE_GETREGSET && request != PTRACE_SETREGSET) || (uintptr_t)addr != NT_X86_XSTATE) return real(request, pid, addr, data);
  struct iovec *in = data;
  static unsigned char full[MAXSTATE] __attribute__((aligned(64)));
  struct iovec iov = { full, sizeof full };
  long rc = real(PTRACE_GETREGSET, pid, addr, &iov);
  if (rc != 0 || iov.iov_len <= in->iov_len) return real(request, pid, addr, data);
  if (request == PTRACE_GETREGSET) {
    unsigned slot = next_slot++ % SLOTS;
    memcpy(saved[slot], full, iov.iov_len); saved_len[slot] = iov.iov_len;
    memcpy(in->iov_base, full, in->iov_len);
    return 0;
  }
  for (unsigned i = 0; i < SLOTS; i++) {
    unsigned slot = (next_slot - 1 - i) % SLOTS;
    if (saved_len[slot] == iov.iov_len && memcmp(saved[slot], in->iov_base, in->iov_len) == 0) { memcpy(full, saved[slot], iov.iov_len); break; }
  }
  memcpy(full, in->iov_base, in->iov_len);
  return real(PTRACE_SETREGSET, pid, addr, &iov);
}
