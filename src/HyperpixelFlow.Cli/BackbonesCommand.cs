using System.CommandLine;
using HyperpixelFlow.Backbones;
using Spectre.Console;
using TorchSharp.PyBridge;

namespace HyperpixelFlow.Cli;

/// <summary>
/// <c>hpf backbones</c>: one line per registered backbone (candidates, default layers, the weights file it needs);
/// <c>hpf backbones NAME</c>: that backbone's hyperpixel candidate ids with their jumps and receptive fields;
/// <c>hpf backbones NAME --export-weights FILE</c>: its bundled weights as a safetensors state dict (torchvision names),
/// for Python code that should run the very same network (tools/original-code-timing).
/// </summary>
internal static class BackbonesCommand
{
    public static Command Create()
    {
        var name = new Argument<string?>("name") { Description = "a backbone to list candidate by candidate", Arity = ArgumentArity.ZeroOrOne };
        var export = new Option<string?>("--export-weights")
        {
            Description = "with a NAME whose weights are bundled: write them to this .safetensors file (torchvision state_dict names), for use outside this program",
        };
        var command = new Command("backbones", "list the backbones and the weights file each needs; with a NAME, its hyperpixel candidate ids");
        command.Arguments.Add(name);
        command.Options.Add(export);
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var one = parse.GetValue(name);
            if (parse.GetValue(export) is { } file)
            {
                if (one is null) throw new HyperpixelFlowException("--export-weights needs a backbone NAME, e.g. hpf backbones resnet18-cntk --export-weights resnet18-cntk.safetensors");
                ExportWeights(BackboneRegistry.Get(one), file);
            }
            else if (one is not null) ListCandidates(BackboneRegistry.Get(one));
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

    private static void ExportWeights(BackboneSpec spec, string file)
    {
        if (!spec.HasBundledWeights)
            throw new HyperpixelFlowException($"{spec.Name} has no bundled weights to export: it runs from your file ({spec.WeightsFile})");
        if (!file.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            throw new HyperpixelFlowException($"--export-weights writes safetensors: give a file name ending in .safetensors, not '{file}'");
        using var network = BackboneRegistry.ImportBundled(spec, BackboneRegistry.BundledWeightsPath);
        var state = network.state_dict();
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);   // as the other commands' outputs
        string temporary = file + ".part";   // moved into place whole, so a reader never sees half a file
        try
        {
            Safetensors.SaveStateDict(temporary, state);
            File.Move(temporary, file, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
        AnsiConsole.MarkupLine($"{Markup.Escape(file)}: {state.Count} tensors of {Markup.Escape(spec.Name)} ({Markup.Escape(spec.Description)})");
    }

    private static string DefaultLayers(BackboneSpec spec) => string.Join(",", spec.DefaultLayers) +
        string.Concat((spec.LayersByMatching ?? new Dictionary<string, IReadOnlyList<int>>()).Select(kv => $" ({string.Join(",", kv.Value)} with --matching {kv.Key})"));
}
