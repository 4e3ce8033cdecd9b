"""Topic models (DeepFabric's topic trees and graphs) and the dataset generator built on them.

    tree = TopicTree(root_prompt="Python programming", degree=3, depth=2)
    await tree.build(model)                 # every node records the model call that made it
    tree.save("topics.jsonl")               # JSONL of paths; a graph saves node-link JSON
    paths = tree.paths()                    # root-to-leaf topic paths, the attribute source

`input_topics` in a config makes each sample draw a path (`{topic}`, `{topic.path}`); the
`DataSetGenerator` turns a topic model into training examples (basic or chain of thought).
"""

from envsim.topics.graph import TopicGraph
from envsim.topics.model import TopicCall, TopicModel, TopicNode, load_topic_model
from envsim.topics.tree import TopicTree

__all__ = ["TopicCall", "TopicGraph", "TopicModel", "TopicNode", "TopicTree", "load_topic_model"]
