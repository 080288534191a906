using GrowLength.Client.Cli;

// tcmalloc must be in place before libtorch allocates anything, so the program re-executes itself with it
// preloaded when the machine has it (DESIGN.md: 1.1-1.25x tokens/s on CPU), before any other work.
if (AllocatorPreload.TryReexecute(args, out var childExitCode)) return childExitCode;
return GrowLengthCli.Run(args);
