-- Temporal keeps its own databases next to dualhook's (created once, on the first start).
CREATE DATABASE temporal;
CREATE DATABASE temporal_visibility;
