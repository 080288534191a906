using GrowLength.Grains;
using GrowLength.Grains.Hosting;
using Microsoft.Extensions.Hosting;

// Keep glibc from unmapping and re-faulting libtorch's step buffers (a no-op under a preloaded tcmalloc); see the class.
GrowLength.Training.Native.GlibcMallocTuning.Apply();

// One silo. Several on one machine: give each its own ports and point the others at the first, e.g.
//   GrowLength.Silo --GrowLength:SiloPort=11112 --GrowLength:GatewayPort=30001 --GrowLength:MetricsPort=9465 --GrowLength:PrimarySiloEndpoint=127.0.0.1:11111
var builder = Host.CreateApplicationBuilder(args);
try
{
    builder.UseGrowLengthSilo();
}
catch (RunRequestException e)
{
    // A bad setting, or a state folder another cluster owns: one line naming it, and nothing started.
    Console.Error.WriteLine($"error: {e.Subject}: {e.Problem}");
    return 2;
}
await builder.Build().RunAsync();
return 0;
