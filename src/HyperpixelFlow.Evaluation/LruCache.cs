namespace HyperpixelFlow.Evaluation;

/// <summary>A bounded least-recently-used cache that disposes what it evicts.</summary>
internal sealed class LruCache<TKey, TValue>(int capacity) : IDisposable where TKey : notnull where TValue : IDisposable
{
    private readonly Dictionary<TKey, LinkedListNode<(TKey Key, TValue Value)>> _map = new();
    private readonly LinkedList<(TKey Key, TValue Value)> _order = new();

    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));
    public int Count => _map.Count;

    public bool TryGet(TKey key, out TValue value)
    {
        if (_map.TryGetValue(key, out var node))
        {
            _order.Remove(node);
            _order.AddFirst(node);
            value = node.Value.Value;
            return true;
        }
        value = default!;
        return false;
    }

    public TValue GetOrAdd(TKey key, Func<TKey, TValue> create)
    {
        if (TryGet(key, out var found)) return found;
        var value = create(key);
        _map[key] = _order.AddFirst((key, value));
        while (_map.Count > Capacity)
        {
            var last = _order.Last!;
            _order.RemoveLast();
            _map.Remove(last.Value.Key);
            last.Value.Value.Dispose();
        }
        return value;
    }

    public void Dispose()
    {
        foreach (var (_, value) in _order) value.Dispose();
        _order.Clear();
        _map.Clear();
    }
}
