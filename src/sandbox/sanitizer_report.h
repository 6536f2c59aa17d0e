// What a sandboxed worker's sanitizer runtime needs that the sandbox would take away; sanitizer
// builds only (MLOS_SANITIZE, docs/reliability.md "Sanitizers"), no-ops otherwise.
#pragma once

namespace mlos::sandbox {

// Called before EnterSandbox, while the host's file tree is still visible. Any worker: SIGSEGV
// and SIGBUS kill it again (not ASan's report-and-exit). For a sandboxed
// worker: opens its report file in the folder of the log_path of *SAN_OPTIONS (after pivot_root
// that folder is gone, and the runtime opens its file only when it reports), and runs
// LeakSanitizer's check now: at exit it could not run under seccomp (it stops the threads with
// ptrace from a helper cloned without CLONE_THREAD), and once run it does not run again at exit.
void PrepareSanitizerForSandbox(bool sandboxed);

// Called in the process that serves (after SplitReaper forked it): reports go to the file that
// PrepareSanitizerForSandbox opened (the runtime reopens by path in a process it did not open
// the file in).
void AdoptSanitizerReportFile();

}  // namespace mlos::sandbox
