/// Layers applied one after another, each to the previous one's output (PyTorch's
/// `nn.Sequential`), listed in a builder closure:
///
/// ```swift
/// var generator = SeededGenerator(seed: 0)
/// let model = Sequential<Float> {
///   Linear(inputSize: 4, outputSize: 16, using: &generator)
///   Activation.tanh
///   for _ in 0..<depth { Linear(inputSize: 16, outputSize: 16, using: &generator) }
///   Linear(inputSize: 16, outputSize: 1, using: &generator)
/// }
/// ```
///
/// Every layer maps `Tensor<Scalar>` to `Tensor<Scalar>`, checked by the compiler as the model is
/// built (`if`, `if`/`else` and `for` work in the closure). The layers are kept in ``layers``, so
/// their parameters are found by reflection and named by position like PyTorch's:
/// `layers.0.weight`, `layers.0.bias`, `layers.2.weight`, ...
public struct Sequential<Scalar: TensorScalar>: Layer {
  /// The layers, in order of application (each one's parameters are named `layers.<index>.…`).
  public let layers: [any Layer]
  // `layers` erases the types, so each layer's call is kept as a closure, made where the type is
  // known; it captures the same layer value, hence the same parameters.
  private let forwards: [(Tensor<Scalar>) -> Tensor<Scalar>]

  /// A container of the layers `content` lists, applied in that order (none: the identity).
  public init(@Builder _ content: () -> [Stage]) {
    self.init(stages: content())
  }

  private init(stages: [Stage]) {
    layers = stages.map(\.layer)
    forwards = stages.map(\.forward)
  }

  /// This container with `layer` added at the end.
  public func appending<L: Layer>(_ layer: L) -> Sequential
  where L.Input == Tensor<Scalar>, L.Output == Tensor<Scalar> {
    Sequential(stages: zip(layers, forwards).map(Stage.init) + [Stage(layer)])
  }

  /// Applies every layer in turn to `input`.
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    forwards.reduce(input) { output, forward in forward(output) }
  }
}

extension Sequential {
  /// One layer of a ``Sequential`` together with its call, its type erased: what the builder
  /// collects.
  public struct Stage {
    fileprivate let layer: any Layer
    fileprivate let forward: (Tensor<Scalar>) -> Tensor<Scalar>

    fileprivate init(_ layer: any Layer, _ forward: @escaping (Tensor<Scalar>) -> Tensor<Scalar>) {
      self.layer = layer
      self.forward = forward
    }

    /// The stage of a layer that maps `Tensor<Scalar>` to `Tensor<Scalar>`.
    public init<L: Layer>(_ layer: L) where L.Input == Tensor<Scalar>, L.Output == Tensor<Scalar> {
      self.init(layer) { layer($0) }
    }
  }

  /// The result builder of ``Sequential/init(_:)``: each statement is a layer; `if`, `if`/`else`
  /// and `for` add layers conditionally or repeatedly.
  @resultBuilder
  public enum Builder {
    /// A layer mapping `Tensor<Scalar>` to `Tensor<Scalar>`.
    public static func buildExpression<L: Layer>(_ layer: L) -> [Stage]
    where L.Input == Tensor<Scalar>, L.Output == Tensor<Scalar> {
      [Stage(layer)]
    }

    /// The layers of consecutive statements, in order.
    public static func buildBlock(_ parts: [Stage]...) -> [Stage] { parts.flatMap { $0 } }

    /// The layers of an `if` without `else`, or none.
    public static func buildOptional(_ part: [Stage]?) -> [Stage] { part ?? [] }

    /// The layers of the taken branch of an `if`/`else`.
    public static func buildEither(first part: [Stage]) -> [Stage] { part }

    /// The layers of the taken branch of an `if`/`else`.
    public static func buildEither(second part: [Stage]) -> [Stage] { part }

    /// The layers of every iteration of a `for` loop, in order.
    public static func buildArray(_ parts: [[Stage]]) -> [Stage] { parts.flatMap { $0 } }
  }
}
