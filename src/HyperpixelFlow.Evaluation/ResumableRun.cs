namespace HyperpixelFlow.Evaluation;

/// <summary>
/// The frame every long run works in (evaluation, batch transfer): the work list's items this shard owns, a results
/// log opened with the run's header (settings fingerprint: another run's log is refused), the items it already holds
/// (resume), the items still to do, and progress reported after each finished item as (done, owned).
/// </summary>
internal sealed class ResumableRun<TSettings, TItem> : IDisposable where TSettings : RunSettings where TItem : ILoggedItem
{
    private readonly ResultsLog<TSettings, TItem> _log;
    private readonly Action<int, int>? _progress;

    private ResumableRun(ResultsLog<TSettings, TItem> log, IReadOnlyList<int> owned, Action<int, int>? progress)
    {
        _log = log;
        _progress = progress;
        Owned = owned;
        var done = log.Existing.Select(item => item.Index).ToHashSet();
        Todo = owned.Where(i => !done.Contains(i)).ToList();
        Done = done.Count;
    }

    /// <summary>Opens (or resumes) the run of <paramref name="items"/> work items whose shard is <paramref name="shard"/>.</summary>
    public static ResumableRun<TSettings, TItem> Open(string resultsPath, string kind, TSettings settings, Shard shard, int items, bool restart,
        Action<int, int>? progress)
    {
        var log = ResultsLog<TSettings, TItem>.Open(resultsPath, new(kind, settings, shard.ToString(), items), restart);
        var run = new ResumableRun<TSettings, TItem>(log, Enumerable.Range(0, items).Where(shard.Owns).ToList(), progress);
        progress?.Invoke(run.Done, run.Owned.Count);
        return run;
    }

    /// <summary>Indices (in the whole work list) of the items this shard owns.</summary>
    public IReadOnlyList<int> Owned { get; }

    /// <summary>Owned items not in the log yet, in order.</summary>
    public IReadOnlyList<int> Todo { get; }

    /// <summary>Items the log held when the run was opened.</summary>
    public IReadOnlyList<TItem> Existing => _log.Existing;

    /// <summary>Owned items finished, earlier runs included.</summary>
    public int Done { get; private set; }

    /// <summary>Whether every owned item is finished.</summary>
    public bool Complete => Done == Owned.Count;

    /// <summary>Records a finished item (flushed to disk) and reports progress.</summary>
    public void Append(TItem item)
    {
        _log.Append(item);
        Done++;
        _progress?.Invoke(Done, Owned.Count);
    }

    /// <inheritdoc />
    public void Dispose() => _log.Dispose();
}
