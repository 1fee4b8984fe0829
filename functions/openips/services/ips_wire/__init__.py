"""IPS wire compatibility shared by the ``/scene7`` entry points (issue 15): safe XML, the UploadFile servlet."""
