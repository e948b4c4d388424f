using System.Diagnostics;

namespace HyperpixelFlow;

/// <summary>Accumulates wall time per named stage, in the order stages first appear.</summary>
public sealed class StageTimer
{
    private readonly List<(string Stage, double Seconds)> _stages = [];
    private readonly Stopwatch _watch = Stopwatch.StartNew();

    /// <summary>Charges the time since the previous lap (or since creation) to <paramref name="stage"/>.</summary>
    public void Lap(string stage)
    {
        double seconds = _watch.Elapsed.TotalSeconds;
        _watch.Restart();
        int i = _stages.FindIndex(s => s.Stage == stage);
        if (i < 0) _stages.Add((stage, seconds));
        else _stages[i] = (stage, _stages[i].Seconds + seconds);
    }

    /// <summary>Seconds per stage, in the order the stages first appeared.</summary>
    public IReadOnlyDictionary<string, double> ToDictionary()
    {
        var result = new Dictionary<string, double>();
        foreach (var (stage, seconds) in _stages) result[stage] = seconds;
        return result;
    }
}
