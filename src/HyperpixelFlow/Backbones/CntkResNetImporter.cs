using static TorchSharp.torch;

namespace HyperpixelFlow.Backbones;

/// <summary>
/// Maps the weights of a CNTK-exported ResNet ONNX graph onto torchvision state_dict names by following the
/// graph: the stem Conv/BatchNormalization, then one residual block per Add node, whose two inputs are the
/// residual path (a chain of Conv+BatchNormalization with ReLUs between) and the shortcut (the block input or a
/// Conv+BatchNormalization projection of it).
/// </summary>
internal static class CntkResNetImporter
{
    public static Dictionary<string, Tensor> ToStateDict(OnnxModel model, ResNetArchitecture architecture, string source)
    {
        var producer = new Dictionary<string, OnnxNode>();
        foreach (var node in model.Nodes)
            foreach (var output in node.Outputs) producer[output] = node;

        var weights = new Dictionary<string, Tensor>();
        var stemPool = model.Nodes.FirstOrDefault(n => n.OpType == "MaxPool")
            ?? throw new HyperpixelFlowException($"{source}: no stem max-pool in the graph; not a ResNet");
        var stemChain = ConvChain(stemPool.Inputs[0], graphInput: null, producer, source);
        if (stemChain.Count != 1) throw new HyperpixelFlowException($"{source}: expected one conv in the stem, found {stemChain.Count}");
        AddConvBn(weights, model, stemChain[0], "conv1", "bn1", source);

        string blockInput = stemPool.Outputs[0];
        var adds = model.Nodes.Where(n => n.OpType == "Add").ToList();
        if (adds.Count != architecture.BlockCount)
            throw new HyperpixelFlowException($"{source}: graph has {adds.Count} residual blocks, the architecture {architecture.BlockCount}");
        int blockIndex = 0;
        for (int stage = 0; stage < 4; stage++)
        {
            for (int b = 0; b < architecture.StageDepths[stage]; b++, blockIndex++)
            {
                var add = adds[blockIndex];
                var paths = add.Inputs.Select(i => i == blockInput ? [] : ConvChain(i, blockInput, producer, source)).ToList();
                var residual = paths.OrderByDescending(p => p.Count).First();
                var shortcut = paths.OrderByDescending(p => p.Count).Last();
                int expectedConvs = architecture.Block == ResidualBlockKind.Basic ? 2 : 3;
                if (residual.Count != expectedConvs || shortcut.Count > 1)
                    throw new HyperpixelFlowException($"{source}: block {blockIndex + 1} does not have the expected layout");
                string prefix = $"layer{stage + 1}.{b}";
                for (int c = 0; c < residual.Count; c++)
                    AddConvBn(weights, model, residual[c], $"{prefix}.conv{c + 1}", $"{prefix}.bn{c + 1}", source);
                if (shortcut.Count == 1)
                    AddConvBn(weights, model, shortcut[0], $"{prefix}.downsample.0", $"{prefix}.downsample.1", source);
                var relu = model.Nodes.FirstOrDefault(n => n.OpType == "Relu" && n.Inputs[0] == add.Outputs[0])
                    ?? throw new HyperpixelFlowException($"{source}: block {blockIndex + 1} has no ReLU after its addition");
                blockInput = relu.Outputs[0];
            }
        }
        return weights;
    }

    /// <summary>The (Conv, BatchNormalization) pairs from <paramref name="graphInput"/> to <paramref name="value"/>, in order.</summary>
    private static List<(OnnxNode Conv, OnnxNode Bn)> ConvChain(string value, string? graphInput,
        Dictionary<string, OnnxNode> producer, string source)
    {
        var chain = new List<(OnnxNode, OnnxNode)>();
        string current = value;
        while (current != graphInput && producer.TryGetValue(current, out var node))
        {
            if (node.OpType == "Relu") { current = node.Inputs[0]; continue; }
            if (node.OpType != "BatchNormalization" || !producer.TryGetValue(node.Inputs[0], out var conv) || conv.OpType != "Conv")
                throw new HyperpixelFlowException($"{source}: unexpected {node.OpType} node '{node.Name}' in a residual path");
            chain.Insert(0, (conv, node));
            current = conv.Inputs[0];
        }
        return chain;
    }

    private static void AddConvBn(Dictionary<string, Tensor> weights, OnnxModel model, (OnnxNode Conv, OnnxNode Bn) pair,
        string convName, string bnName, string source)
    {
        weights[$"{convName}.weight"] = Initializer(model, pair.Conv.Inputs[1], source);
        if (pair.Bn.FloatAttributes.TryGetValue("epsilon", out float eps) && Math.Abs(eps - 1e-5f) > 1e-9f)
            throw new HyperpixelFlowException($"{source}: BatchNormalization '{pair.Bn.Name}' has epsilon {eps}, expected 1e-5");
        weights[$"{bnName}.weight"] = Initializer(model, pair.Bn.Inputs[1], source);
        weights[$"{bnName}.bias"] = Initializer(model, pair.Bn.Inputs[2], source);
        weights[$"{bnName}.running_mean"] = Initializer(model, pair.Bn.Inputs[3], source);
        weights[$"{bnName}.running_var"] = Initializer(model, pair.Bn.Inputs[4], source);
    }

    private static Tensor Initializer(OnnxModel model, string name, string source)
    {
        if (!model.Initializers.TryGetValue(name, out var t) || t.Data.Length == 0)
            throw new HyperpixelFlowException($"{source}: missing float initializer '{name}'");
        return tensor(t.Data, t.Dims);
    }
}
