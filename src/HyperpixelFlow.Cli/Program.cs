using System.CommandLine;
using HyperpixelFlow;
using HyperpixelFlow.Cli;
using Spectre.Console;

// Redirected output (a log, a pipe, a script) is never wrapped: Spectre would break lines at 80 columns, splitting
// paths and machine-readable lines.
if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 4096;

var root = new RootCommand("hpf: Hyperpixel Flow semantic correspondence (Min et al., ICCV 2019) in .NET");
root.Subcommands.Add(MatchCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(EvaluateCommand.Create());
root.Subcommands.Add(CalibrateCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(BackbonesCommand.Create());
root.Subcommands.Add(BeamSearchCommand.Create());
root.Subcommands.Add(DownloadCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(BenchServeCommand.Create());
root.Subcommands.Add(TransferCommand.Create());
root.Subcommands.Add(MergeCommand.Create());

RejectEmptyValues(root);
// Every command closes its files before it returns: the process then ends at once (see ProcessExit).
ProcessExit.Now(Run());

int Run()
{
    try
    {
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // One line, exit code 2, like every other bad input (System.CommandLine would print the whole help).
            var command = parsed.CommandResult.Command;
            string message = parsed.Errors[0].Message.Replace("'System.Int32'", "a whole number").Replace("'System.Int64'", "a whole number")
                .Replace("'System.Double'", "a number").Replace("'System.Boolean'", "true or false").Replace("'System.Nullable`1[System.Boolean]'", "true or false")
                .Replace("'System.Nullable`1[System.Int32]'", "a whole number");
            Console.Error.WriteLine($"error: {message} (see 'hpf {(command == root ? "" : command.Name + " ")}--help')");
            return CliErrors.BadInput;
        }
        StartupTrace.Mark("parsed");
        return parsed.Invoke();
    }
    catch (HyperpixelFlowException e)
    {
        return CliErrors.Report(e);
    }
}

// A script that passes an empty variable ("--points \"$P\"") must get an error, not the option's default.
static void RejectEmptyValues(Command command)
{
    foreach (var option in command.Options.Where(o => o.ValueType == typeof(string)))
        option.Validators.Add(result =>
        {
            if (result.Tokens.Any(t => string.IsNullOrWhiteSpace(t.Value)))
                result.AddError($"{option.Name}: empty value (leave the option out to use its default)");
        });
    foreach (var sub in command.Subcommands) RejectEmptyValues(sub);
}
