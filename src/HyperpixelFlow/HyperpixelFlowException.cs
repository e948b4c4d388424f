namespace HyperpixelFlow;

/// <summary>
/// An error caused by the caller's input (a missing or unreadable image, an invalid layer id, a malformed
/// annotation, ...). Its message is one line meant for a person; front ends print it instead of a stack trace.
/// </summary>
public class HyperpixelFlowException(string message, Exception? inner = null) : Exception(message, inner);
