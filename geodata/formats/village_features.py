"""Village polygons from a GeoJSON FeatureCollection, streamed feature by feature.

The collection is decoded one feature at a time (:mod:`geodata.formats.jsonstream`),
so a province's villages never sit in memory as one JSON document; each
feature is validated by :func:`geodata.villages.validate_village_features`
and refused on its own (position, field, reason), never sinking the rest.
"""

from __future__ import annotations

from geodata.errors import BadEncodingError
from geodata.formats._common import Source, open_binary, text_stream
from geodata.formats.jsonstream import iter_json_list
from geodata.villages import ValidatedVillages, validate_village_features


def read_village_features(source: Source) -> ValidatedVillages:
    """Stream a GeoJSON FeatureCollection (or a list of features) and validate each feature.

    Parameters
    ----------
    source : str, Path or binary file object
        UTF-8 GeoJSON; only the ``features`` list is read (an old-style
        ``crs`` member is ignored: coordinates must be lon/lat).

    Returns
    -------
    ValidatedVillages
        Rejections are numbered by the feature's position in the list.

    Raises
    ------
    BadJSONError
        Malformed JSON, or a top level without a ``features`` list.
    BadEncodingError
        Bytes that are not UTF-8.
    """
    with open_binary(source) as stream:
        text = text_stream(stream)
        try:
            return validate_village_features(iter_json_list(text, key="features", what="villages"))
        except UnicodeDecodeError as exc:
            raise BadEncodingError(f"villages: the file is not UTF-8 text ({exc.reason})") from exc
        finally:
            text.detach()
