namespace HyperpixelFlow.Evaluation;

/// <summary>A malformed annotation file: the message names the file and, where known, the line.</summary>
public sealed class DatasetFormatException(string file, int? line, string problem)
    : HyperpixelFlowException(line is int l ? $"{file}:{l}: {problem}" : $"{file}: {problem}");
