using GrowLength.Client.Commands;

// tcmalloc must be in place before libtorch allocates anything, so the program re-executes itself with it
// preloaded when the machine has it (1.1-1.25x tokens/s on CPU, measured in pairs; see AllocatorPreload), before any other work.
if (AllocatorPreload.TryReexecute(args, out var childExitCode)) return childExitCode;
// Without tcmalloc, keep glibc from unmapping and re-faulting the large step buffers (3x tokens/s measured).
if (!AllocatorPreload.UnderTcmalloc) GrowLength.Training.Native.GlibcMallocTuning.Apply();
return GrowLengthCli.Run(args);
