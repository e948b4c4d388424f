using System.CommandLine;
using HyperpixelFlow;
using HyperpixelFlow.Cli;
using Spectre.Console;

var root = new RootCommand("hpf: Hyperpixel Flow semantic correspondence (Min et al., ICCV 2019) in .NET");
root.Subcommands.Add(MatchCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(EvaluateCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(BackbonesCommand.Create());
root.Subcommands.Add(BeamSearchCommand.Create());
root.Subcommands.Add(DownloadCommand.Create());

try
{
    return root.Parse(args).Invoke();
}
catch (HyperpixelFlowException e)
{
    return CliErrors.Report(e);
}
