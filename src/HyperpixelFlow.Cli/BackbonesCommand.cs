using System.CommandLine;
using HyperpixelFlow.Backbones;
using Spectre.Console;

namespace HyperpixelFlow.Cli;

/// <summary>
/// <c>hpf backbones</c>: one line per registered backbone (candidates, default layers, the weights file it needs);
/// <c>hpf backbones NAME</c>: that backbone's hyperpixel candidate ids with their jumps and receptive fields.
/// </summary>
internal static class BackbonesCommand
{
    public static Command Create()
    {
        var name = new Argument<string?>("name") { Description = "a backbone to list candidate by candidate", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("backbones", "list the backbones and the weights file each needs; with a NAME, its hyperpixel candidate ids");
        command.Arguments.Add(name);
        command.SetAction(parse => CliErrors.Run(() =>
        {
            if (parse.GetValue(name) is { } one) ListCandidates(BackboneRegistry.Get(one));
            else ListAll();
            return 0;
        }));
        return command;
    }

    private static void ListAll()
    {
        var table = new Table().AddColumns("name", "network", "candidates", "default layers", "weights");
        foreach (var spec in BackboneRegistry.All)
            table.AddRow(spec.Name, Markup.Escape(spec.Description), spec.Candidates.Count.ToString(), Markup.Escape(DefaultLayers(spec)),
                Markup.Escape(spec.HasBundledWeights ? "bundled" : $"--weights FILE: {spec.WeightsFile}"));
        table.Caption("hpf backbones NAME lists one backbone's candidate ids");
        AnsiConsole.Write(table);
    }

    private static void ListCandidates(BackboneSpec spec)
    {
        var table = new Table().Title($"[bold]{spec.Name}[/]: {Markup.Escape(spec.Description)}")
            .AddColumns("id", "source", "jump", "receptive field");
        for (int id = 0; id < spec.Candidates.Count; id++)
        {
            var c = spec.Candidates[id];
            table.AddRow(id.ToString(), Markup.Escape(spec.CandidateNames[id]), c.Jump.ToString(),
                c.SeesWholeImage ? $"whole image (box {c.ReceptiveField})" : c.ReceptiveField.ToString());
        }
        table.Caption(Markup.Escape($"default layers {DefaultLayers(spec)}; weights: " +
            (spec.HasBundledWeights ? "bundled" : $"--weights FILE: {spec.WeightsFile}")));
        AnsiConsole.Write(table);
    }

    private static string DefaultLayers(BackboneSpec spec) => string.Join(",", spec.DefaultLayers) +
        string.Concat((spec.LayersByMatching ?? new Dictionary<string, IReadOnlyList<int>>()).Select(kv => $" ({string.Join(",", kv.Value)} with --matching {kv.Key})"));
}
