"""2-D procedural drawing in numpy and OpenCV: no GL, no scene, no renderer.

* :mod:`synth.draw.value_noise` -- smooth value-noise fields;
* :mod:`synth.draw.patterns` -- two-tone pattern fields, photo-like palettes, shading fields;
* :mod:`synth.draw.shapes` -- random 2-D outlines as polygons;
* :mod:`synth.draw.defocus` -- a fast Gaussian-like defocus blur.

The backgrounds (``synth.render.background``, ``leaves``, ``clutter``) and the distractors
(:mod:`synth.distractors`, a post-render effect) draw with them. Keeping them out of
``synth.render`` keeps the effects -- which ``train.data.corruptions`` applies to real
photos -- and with them the training side off the renderer package.
"""
