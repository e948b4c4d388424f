using System.CommandLine;
using HyperpixelFlow.Backbones;
using Spectre.Console;

namespace HyperpixelFlow.Cli;

/// <summary><c>hpf backbones</c>: the registered backbones with their hyperpixel ids, jumps and receptive fields.</summary>
internal static class BackbonesCommand
{
    public static Command Create()
    {
        var command = new Command("backbones", "list the backbones, their hyperpixel candidate ids and default layers");
        command.SetAction(_ => CliErrors.Run(() =>
        {
            foreach (var spec in BackboneRegistry.All)
            {
                var table = new Table().Title($"[bold]{spec.Name}[/]: {Markup.Escape(spec.Description)}")
                    .AddColumns("id", "source", "jump", "receptive field");
                var candidates = ResNetBackbone.ComputeCandidateGeometry(spec.Architecture);
                for (int id = 0; id < candidates.Count; id++)
                    table.AddRow(id.ToString(), id == 0 ? "stem max-pool" : BlockName(spec.Architecture, id),
                        candidates[id].Jump.ToString(), candidates[id].ReceptiveField.ToString());
                table.Caption($"default layers {string.Join(",", spec.DefaultLayers)}" +
                    string.Concat((spec.LayersByMatching ?? new Dictionary<string, IReadOnlyList<int>>()).Select(kv => $", {string.Join(",", kv.Value)} with --matching {kv.Key}")) +
                    $"; weights: {(spec.HasBundledWeights ? "bundled" : "--weights FILE (.pth / .safetensors)")}");
                AnsiConsole.Write(table);
            }
            return 0;
        }));
        return command;
    }

    private static string BlockName(ResNetArchitecture architecture, int id)
    {
        int remaining = id;
        for (int stage = 0; stage < 4; stage++)
        {
            if (remaining <= architecture.StageDepths[stage]) return $"layer{stage + 1}.{remaining - 1} (before ReLU)";
            remaining -= architecture.StageDepths[stage];
        }
        throw new ArgumentOutOfRangeException(nameof(id));
    }
}
